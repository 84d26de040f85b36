-- key_lookup: one table lookup on any request value, many groups per rule.
--
-- args:
--   key      where the value comes from, as hash_on and match keys are written
--            (SPEC §2): appkey, user_id, version, callee, ip, attr:NAME, header:NAME
--   map      value -> group, e.g. {gold: vip, silver: standard}; numeric keys
--            (YAML 1001: vip) match the value's digits too
--   default  group for a value that is present but not in map (default: no match)
-- Returns nil when the value is absent or empty.

-- value reads the request value a key names; nil for an unknown key.
-- (No top-level tables: the chunk runs on every call.)
local function is_field(key)
  return key == "user_id" or key == "callee" or key == "appkey" or key == "version" or key == "ip"
end

local function value(req, key)
  if is_field(key) then
    return req[key]
  end
  local colon = string.find(key, ":", 1, true)
  if colon == nil or colon == #key then
    return nil
  end
  local kind, name = string.sub(key, 1, colon - 1), string.sub(key, colon + 1)
  if kind == "attr" then
    return req.attrs[name]
  elseif kind == "header" then
    return req.header(name)
  end
  return nil
end

function check(args)
  local key = args.key
  if type(key) ~= "string" or not (is_field(key) or string.match(key, "^attr:.") or string.match(key, "^header:.")) then
    error("args.key must be appkey, user_id, version, callee, ip, attr:NAME or header:NAME; got " .. tostring(key))
  end
  if type(args.map) ~= "table" then
    error("args.map is required: a map of value -> group")
  end
  for v, g in pairs(args.map) do
    if type(g) ~= "string" or g == "" then
      error("args.map[" .. tostring(v) .. "] must be a group name")
    end
  end
  if args.default ~= nil and (type(args.default) ~= "string" or args.default == "") then
    error("args.default must be a group name")
  end
end

function split(req, args)
  local v = value(req, args.key)
  if v == nil or v == "" then
    return nil
  end
  local g = args.map[v]
  if g == nil then
    local n = tonumber(v)
    if n and tostring(n) == v then -- "1001", not "0x3e9" or " 1001"
      g = args.map[n]
    end
  end
  return g or args.default
end
