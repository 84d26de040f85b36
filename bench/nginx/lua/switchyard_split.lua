-- switchyard's split, written for nginx + ngx_lua (LuaJIT) as the reference
-- peer of the benchmarks. Same table (switchyard's canonical JSON), same rule
-- semantics (splitter/doc.go), same bucket function (splitter/hash.go), same
-- JSON answer. The table lives in the `policies` shared dict, one JSON entry
-- per appkey ("a:" .. appkey) plus "version" and "default_group"; each worker
-- compiles an appkey's entry on first use and caches it with the version it
-- was compiled for, so a request decodes no table, only its own body.

local cjson = require("cjson.safe")
local bit = require("bit")

local ngx = ngx
local dict = ngx.shared.policies
local band, bxor, rshift = bit.band, bit.bxor, bit.rshift
local floor, log, huge = math.floor, math.log, math.huge
local byte, sub, find, lower, gsub = string.byte, string.sub, string.find, string.lower, string.gsub
local tonumber, tostring, type, pairs, ipairs = tonumber, tostring, type, pairs, ipairs
local crc32 = ngx.crc32_long
local re_find = ngx.re.find

local _M = {}

local cache = {}      -- appkey → compiled entry {version=…}
local scripts = {}    -- name → function(req, args) from policies/NAME.lua

---------------------------------------------------------------------------
-- Bucket hash: fmix32(crc32(parts joined by 0x1f)), as splitter/hash.go.

local TWO32 = 4294967296

local function u32(x)
    if x < 0 then return x + TWO32 end
    return x
end

-- mul32 multiplies two uint32 values modulo 2^32 without losing precision
-- in doubles: split b into 16-bit halves.
local function mul32(a, b)
    local blo = b % 65536
    local bhi = (b - blo) / 65536
    local hi = (a * bhi) % 65536
    return (hi * 65536 + a * blo) % TWO32
end

local function fmix32(h)
    h = u32(bxor(h, rshift(h, 16)))
    h = mul32(h, 0x85ebca6b)
    h = u32(bxor(h, rshift(h, 13)))
    h = mul32(h, 0xc2b2ae35)
    h = u32(bxor(h, rshift(h, 16)))
    return h
end

local function bucket_hash(s)
    return fmix32(crc32(s))
end
_M.bucket_hash = bucket_hash

---------------------------------------------------------------------------
-- Semantic versions (the subset of Masterminds/semver the tables use:
-- comparisons joined by spaces or commas, alternatives by ||).

local function parse_version(s)
    if type(s) ~= "string" or s == "" or #s > 64 then return nil end
    local v = s
    if byte(v, 1) == 118 or byte(v, 1) == 86 then v = sub(v, 2) end -- leading "v"
    v = gsub(v, "%+[0-9A-Za-z.-]*$", "") -- build metadata is ignored
    local core, pre = v:match("^([0-9.]+)%-([0-9A-Za-z.-]+)$")
    if not core then
        core, pre = v:match("^([0-9.]+)$"), ""
    end
    if not core then return nil end
    local a, b, c = core:match("^(%d+)%.(%d+)%.(%d+)$")
    if not a then
        a, b = core:match("^(%d+)%.(%d+)$")
        c = "0"
        if not a then
            a = core:match("^(%d+)$")
            b, c = "0", "0"
        end
    end
    if not a then return nil end
    return { tonumber(a), tonumber(b), tonumber(c), pre }
end

-- A pre-release compares identifier by identifier (semver 2.0.0 §11):
-- numeric ones numerically and below alphanumeric ones; a shorter list of
-- equal identifiers is smaller; a release is above all its pre-releases.
local function cmp_pre(a, b)
    if a == b then return 0 end
    if a == "" then return 1 end
    if b == "" then return -1 end
    local xs, ys = {}, {}
    for p in a:gmatch("[^.]+") do xs[#xs + 1] = p end
    for p in b:gmatch("[^.]+") do ys[#ys + 1] = p end
    for i = 1, math.max(#xs, #ys) do
        local x, y = xs[i], ys[i]
        if x == nil then return -1 end
        if y == nil then return 1 end
        if x ~= y then
            local nx, ny = x:match("^%d+$") and tonumber(x), y:match("^%d+$") and tonumber(y)
            if nx and ny then return nx < ny and -1 or 1 end
            if nx then return -1 end
            if ny then return 1 end
            return x < y and -1 or 1
        end
    end
    return 0
end

local function cmp_version(x, y)
    for i = 1, 3 do
        if x[i] ~= y[i] then return x[i] < y[i] and -1 or 1 end
    end
    return cmp_pre(x[4], y[4])
end

local function is_x(p) return p == "x" or p == "X" or p == "*" end

-- parse_cver parses a constraint's version as Masterminds/semver/v3 does:
-- missing or x parts make it "dirty" (minor_dirty: no minor; patch_dirty:
-- no patch) and count as 0.
local function parse_cver(s)
    local v = s
    if byte(v, 1) == 118 or byte(v, 1) == 86 then v = sub(v, 2) end
    v = gsub(v, "%+[0-9A-Za-z.-]*$", "")
    local core, pre = v:match("^([0-9xX*.]+)%-([0-9A-Za-z.-]+)$")
    if not core then core, pre = v:match("^([0-9xX*.]+)$"), "" end
    if not core then return nil end
    local parts = {}
    for p in (core .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = p end
    if #parts > 3 or parts[1] == "" then return nil end
    local c = { 0, 0, 0, pre }
    if is_x(parts[1]) then
        c.dirty, c.any = true, true
    elseif parts[2] == nil or is_x(parts[2]) then
        c.dirty, c.minor_dirty = true, true
    elseif parts[3] == nil or is_x(parts[3]) then
        c.dirty, c.patch_dirty = true, true
    end
    for i = 1, 3 do
        local p = parts[i]
        if p and not is_x(p) then
            if not p:match("^%d+$") then return nil end
            c[i] = tonumber(p)
        end
        if p == nil or is_x(p) then break end
    end
    return c
end

local function compile_constraint(s)
    local alts = {}
    for alt in (s .. "||"):gmatch("(.-)||") do
        local terms = { pre = false }
        -- "1.2 - 1.4" hyphen ranges are not generated by the bench tables.
        for term in alt:gmatch("[^%s,]+") do
            local op, ver = term:match("^([<>=!~^]*)(.+)$")
            local c = ver and parse_cver(ver)
            if not c then return nil end
            if op == "~>" then op = "~" end
            if c[4] ~= "" then terms.pre = true end
            terms[#terms + 1] = { op = op, c = c }
        end
        alts[#alts + 1] = terms
    end
    return alts
end

local function tilde(v, c)
    if cmp_version(v, c) < 0 then return false end
    if c[1] == 0 and c[2] == 0 and c[3] == 0 and not c.minor_dirty and not c.patch_dirty then return true end
    if v[1] ~= c[1] then return false end
    return v[2] == c[2] or c.minor_dirty == true
end

local function caret(v, c)
    if cmp_version(v, c) < 0 then return false end
    if c[1] > 0 or c.minor_dirty then return v[1] == c[1] end
    if v[1] > 0 then return false end
    if c[2] > 0 or c.patch_dirty then return v[2] == c[2] end
    if v[2] > 0 then return false end
    return v[3] == c[3]
end

-- term_holds is Masterminds/semver/v3's check of one comparison.
local function term_holds(op, c, v)
    if c.any then return op ~= "!=" and op ~= "<" and op ~= ">" end
    local r = cmp_version(v, c)
    if op == "" or op == "=" then
        if c.dirty then return tilde(v, c) end
        return r == 0
    end
    if op == "~" then return tilde(v, c) end
    if op == "^" then return caret(v, c) end
    if op == "!=" then
        if c.dirty then return not tilde(v, c) end
        return r ~= 0
    end
    if op == ">" then
        if not c.dirty then return r > 0 end
        if v[1] ~= c[1] then return v[1] > c[1] end
        if c.minor_dirty then return false end
        if c.patch_dirty then return v[2] > c[2] end
        return r > 0
    end
    if op == ">=" then return r >= 0 end
    if op == "<" then return r < 0 end
    if op == "<=" then
        if not c.dirty then return r <= 0 end
        if v[1] > c[1] then return false end
        if v[1] == c[1] and v[2] > c[2] and not c.minor_dirty then return false end
        return true
    end
    return false
end

local function constraint_holds(alts, v)
    for _, terms in ipairs(alts) do
        -- As Masterminds: a pre-release version only satisfies an AND group
        -- in which some comparison names a pre-release.
        local ok = v[4] == "" or terms.pre
        if ok then
            for _, t in ipairs(terms) do
                if not term_holds(t.op, t.c, v) then
                    ok = false
                    break
                end
            end
        end
        if ok then return true end
    end
    return false
end

---------------------------------------------------------------------------
-- IP prefixes, IPv4 and IPv6, compared as 16-byte strings under a mask.

local function parse_ip(s)
    if not s then return nil end
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if a then
        return string.char(0,0,0,0,0,0,0,0,0,0,255,255, tonumber(a), tonumber(b), tonumber(c), tonumber(d))
    end
    if not find(s, ":", 1, true) then return nil end
    local mapped = s:match("^::[fF][fF][fF][fF]:(%d+%.%d+%.%d+%.%d+)$")
    if mapped then return parse_ip(mapped) end
    local head, tail = s:match("^(.-)::(.*)$")
    local groups = {}
    local function add(part)
        if part == "" then return {} end
        local out = {}
        for g in part:gmatch("[^:]+") do out[#out + 1] = tonumber(g, 16) end
        return out
    end
    if head then
        local h, t = add(head), add(tail)
        for _, g in ipairs(h) do groups[#groups + 1] = g end
        for _ = 1, 8 - #h - #t do groups[#groups + 1] = 0 end
        for _, g in ipairs(t) do groups[#groups + 1] = g end
    else
        groups = add(s)
    end
    if #groups ~= 8 then return nil end
    local bytes = {}
    for i, g in ipairs(groups) do
        bytes[2 * i - 1] = floor(g / 256)
        bytes[2 * i] = g % 256
    end
    return string.char(unpack(bytes))
end

local function compile_cidr(s)
    local addr, bits = s:match("^(.+)/(%d+)$")
    local ip = parse_ip(addr)
    bits = tonumber(bits)
    if not ip then return nil end
    if addr:match("^%d+%.%d+%.%d+%.%d+$") then bits = bits + 96 end
    return { ip = ip, bits = bits }
end

local function in_prefix(p, ip)
    local full = floor(p.bits / 8)
    if full > 0 and sub(ip, 1, full) ~= sub(p.ip, 1, full) then return false end
    local rest = p.bits % 8
    if rest == 0 then return true end
    local mask = 256 - 2 ^ (8 - rest)
    return band(byte(ip, full + 1), mask) == band(byte(p.ip, full + 1), mask)
end

---------------------------------------------------------------------------
-- Request attributes (SPEC §1).

local function header(name)
    return ngx.var["http_" .. gsub(lower(name), "-", "_")]
end

local function value_of(req, key)
    local v
    if key == "user_id" then v = req.user_id
    elseif key == "version" then v = req.version
    elseif key == "callee" then v = req.callee
    elseif key == "ip" then v = req.ip
    elseif key == "appkey" then v = req.appkey
    elseif sub(key, 1, 5) == "attr:" then v = req.attrs[sub(key, 6)]
    elseif sub(key, 1, 7) == "header:" then v = header(sub(key, 8))
    end
    if v == "" then return nil end
    return v
end

---------------------------------------------------------------------------
-- Rules: each compiles to a function(appkey, req) → group or nil.

local compilers = {}

compilers.user = function(appkey, r)
    local users = {}
    for _, u in ipairs(r.users or {}) do users[u] = true end
    local ranges, suffixes, group = r.ranges or {}, r.suffixes or {}, r.group
    return function(req)
        local u = req.user_id
        if not u or u == "" then return nil end
        if users[u] then return group end
        if #ranges > 0 and u:match("^[+-]?%d+$") then
            local n = tonumber(u)
            for _, rg in ipairs(ranges) do
                if n >= rg[1] and n <= rg[2] then return group end
            end
        end
        for _, s in ipairs(suffixes) do
            if #u >= #s and sub(u, -#s) == s then return group end
        end
        return nil
    end
end

compilers.version = function(appkey, r)
    local alts, group = compile_constraint(r.match), r.group
    return function(req)
        local v = parse_version(req.version)
        if v and constraint_holds(alts, v) then return group end
        return nil
    end
end

local function hash_key(req, r)
    if (r.hash_on or "user_id") == "random" then return nil, true end
    return value_of(req, r.hash_on or "user_id"), false
end

compilers.canary = function(appkey, r)
    local threshold, group = floor(r.percent * 100 + 0.5), r.group
    local salt = appkey .. "\31" .. r.name .. "\31"
    return function(req)
        local key, random = hash_key(req, r)
        if random then
            if math.random(0, 9999) < threshold then return group end
            return nil
        end
        if not key then return nil end
        if bucket_hash(salt .. key) % 10000 < threshold then return group end
        return nil
    end
end

compilers.weighted = function(appkey, r)
    local groups = {}
    for g, w in pairs(r.weights) do
        if w > 0 then groups[#groups + 1] = { g = g, w = w } end
    end
    table.sort(groups, function(a, b) return a.g < b.g end)
    local salt = appkey .. "\31" .. r.name .. "\31"
    return function(req)
        local key, random = hash_key(req, r)
        if random then
            local total = 0
            for _, e in ipairs(groups) do total = total + e.w end
            local x = math.random(0, total - 1)
            for _, e in ipairs(groups) do
                if x < e.w then return e.g end
                x = x - e.w
            end
            return nil
        end
        if not key then return nil end
        local best, best_score = nil, -huge
        local base = salt .. key .. "\31"
        for _, e in ipairs(groups) do
            local u = (bucket_hash(base .. e.g) + 0.5) / TWO32
            local score = e.w / -log(u)
            if score > best_score then best, best_score = e.g, score end
        end
        return best
    end
end

compilers.ip = function(appkey, r)
    local prefixes, group = {}, r.group
    for _, c in ipairs(r.cidrs) do prefixes[#prefixes + 1] = compile_cidr(c) end
    return function(req)
        local ip = parse_ip(req.ip)
        if not ip then return nil end
        for _, p in ipairs(prefixes) do
            if in_prefix(p, ip) then return group end
        end
        return nil
    end
end

local function compile_condition(c)
    local key, op, want = c[1], c[2], c[3]
    local set
    if op == "in" or op == "not_in" then
        set = {}
        for _, x in ipairs(want) do set[tostring(x)] = true end
    end
    local num = tonumber(want)
    return function(req)
        local v = value_of(req, key)
        if not v then return false end
        if op == "==" then return v == tostring(want) end
        if op == "!=" then return v ~= tostring(want) end
        if op == "in" then return set[v] == true end
        if op == "not_in" then return set[v] == nil end
        if op == "prefix" then return sub(v, 1, #want) == want end
        if op == "~~" then return re_find(v, want, "jo") ~= nil end
        local n = tonumber(v)
        if not n then return false end
        if op == ">" then return n > num end
        if op == ">=" then return n >= num end
        if op == "<" then return n < num end
        if op == "<=" then return n <= num end
        return false
    end
end

compilers.match = function(appkey, r)
    local all, any, group = {}, {}, r.group
    for _, c in ipairs(r.all or {}) do all[#all + 1] = compile_condition(c) end
    for _, c in ipairs(r.any or {}) do any[#any + 1] = compile_condition(c) end
    return function(req)
        for _, f in ipairs(all) do
            if not f(req) then return nil end
        end
        if #any > 0 then
            for _, f in ipairs(any) do
                if f(req) then return group end
            end
            return nil
        end
        return group
    end
end

compilers.lua = function(appkey, r)
    local split, args = scripts[r.script], r.args or {}
    return function(req)
        if not split then return nil, true end
        req.header = header
        local ok, g = pcall(split, req, args)
        if not ok or (g ~= nil and type(g) ~= "string") then return nil, true end
        return g
    end
end

local function compile(appkey, raw, version)
    local e = cjson.decode(raw)
    if not e then return nil end
    local c = { version = version, split = e.split ~= "off" and e.split ~= false,
                default_group = e.default_group, rules = {} }
    for _, r in ipairs(e.rules or {}) do
        c.rules[#c.rules + 1] = { name = r.name, f = compilers[r.type](appkey, r) }
    end
    return c
end
_M.compile = compile

---------------------------------------------------------------------------
-- Handlers.

local function fail(status, code, message)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"error":{"code":"', code, '","message":', cjson.encode(message), '}}')
    return ngx.exit(status)
end

local function body()
    ngx.req.read_body()
    local b = ngx.req.get_body_data()
    if b then return b end
    local f = ngx.req.get_body_file()
    if not f then return nil end
    local fh = io.open(f, "rb")
    if not fh then return nil end
    b = fh:read("*a")
    fh:close()
    return b
end

function _M.route()
    if ngx.req.get_method() ~= "POST" then return fail(405, "method_not_allowed", "use POST") end
    local ct = ngx.var.http_content_type
    if not ct or not find(ct, "application/json", 1, true) then
        return fail(415, "unsupported_media_type", "send Content-Type: application/json")
    end
    local b = body()
    local t = b and cjson.decode(b)
    if type(t) ~= "table" then return fail(400, "malformed_body", "the body is not a JSON object") end
    local appkey = ngx.var.http_x_appkey or ngx.var.arg_appkey or t.appkey
    if type(appkey) ~= "string" or appkey == "" then return fail(400, "missing_appkey", "appkey is required") end
    local attrs = {}
    if type(t.attrs) == "table" then
        for k, v in pairs(t.attrs) do
            if type(v) == "string" then attrs[k] = v end
        end
    end
    local req = {
        appkey = appkey,
        user_id = t.user_id or ngx.var.http_x_user_id,
        version = t.version or ngx.var.http_x_app_version,
        callee = t.callee,
        ip = ngx.var.remote_addr,
        attrs = attrs,
    }
    local version = dict:get("version")
    if not version then return fail(503, "not_ready", "no table loaded") end
    local c = cache[appkey]
    if not c or c.version ~= version then
        local raw = dict:get("a:" .. appkey)
        if raw then
            c = compile(appkey, raw, version)
            cache[appkey] = c
        else
            c = nil
            cache[appkey] = nil
        end
    end
    local group, rule = nil, ""
    if not c then
        group = dict:get("default_group")
        if not group then return fail(404, "unknown_appkey", "appkey is not in the table") end
    else
        if c.split then
            for _, r in ipairs(c.rules) do
                local g = r.f(req)
                if g then
                    group, rule = g, r.name
                    break
                end
            end
        end
        if not group then group = c.default_group or dict:get("default_group") end
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"appkey":', cjson.encode(appkey), ',"group":', cjson.encode(group),
              ',"rule":', cjson.encode(rule), ',"table_version":', version, '}')
end

-- push stores a whole table: every appkey entry first, then the version, so
-- that a worker never sees the new version with old entries. Stale appkeys
-- are deleted after. It yields every 1000 entries to keep serving requests.
function _M.push()
    if ngx.req.get_method() ~= "PUT" then return fail(405, "method_not_allowed", "use PUT") end
    local version = tonumber(ngx.var.arg_version)
    if not version then return fail(400, "missing_version", "pass ?version=N") end
    local t = cjson.decode(body() or "")
    -- switchyard's GET /admin/v1/table answers {"version":N,"table":{…}}.
    if type(t) == "table" and type(t.table) == "table" then t = t.table end
    if type(t) ~= "table" or type(t.appkeys) ~= "table" then
        return fail(400, "malformed_table", "the body is not a table")
    end
    local n = 0
    for name, entry in pairs(t.appkeys) do
        local ok, err = dict:safe_set("a:" .. name, cjson.encode(entry))
        if not ok then return fail(507, "dict_full", "policies dict: " .. tostring(err)) end
        n = n + 1
        if n % 1000 == 0 then ngx.sleep(0) end
    end
    if t.default_group then dict:set("default_group", t.default_group) else dict:delete("default_group") end
    dict:set("version", version)
    local stale = 0
    for _, k in ipairs(dict:get_keys(0)) do
        if sub(k, 1, 2) == "a:" and t.appkeys[sub(k, 3)] == nil then
            dict:delete(k)
            stale = stale + 1
        end
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"version":', version, ',"appkeys":', n, ',"deleted":', stale, '}')
end

-- init loads the Lua policies (policies/NAME.lua) into sandboxes like
-- switchyard's: base, string, table and math only.
function _M.init(dir)
    local p = io.popen('ls "' .. dir .. '"/*.lua 2>/dev/null')
    if not p then return end
    for path in p:lines() do
        local name = path:match("([^/]+)%.lua$")
        local f = io.open(path, "rb")
        local src = f:read("*a")
        f:close()
        local env = { string = string, table = table, math = math, pairs = pairs, ipairs = ipairs,
                      tostring = tostring, tonumber = tonumber, type = type, next = next,
                      select = select, unpack = unpack, error = error, pcall = pcall }
        local chunk = loadstring(src, "=" .. name)
        if chunk then
            setfenv(chunk, env)
            if pcall(chunk) and type(env.split) == "function" then
                scripts[name] = env.split
            end
        end
    end
    p:close()
end

return _M
