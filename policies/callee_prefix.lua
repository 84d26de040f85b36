-- callee_prefix: route by the callee number's prefix (a carrier's number
-- block, a region's area code).
--
-- args:
--   prefixes     map prefix -> group, e.g. {"+86138": carrier-a, "0086139": carrier-b,
--                "+8610": beijing}; the longest matching prefix wins.
--   normalize    (default true) spaces, dashes, dots and parentheses are removed
--                from the callee, and a leading "00" and "+" are the same
--                international prefix: "0086138..." matches "+86138" and the
--                other way round.
--   max_prefix_len  (default 16) the longest prefix looked up.
-- Returns nil when no prefix matches or the callee is empty.

local sub, find, type = string.sub, string.find, type

-- longest returns the group of the longest prefix of s longer than floor.
local function longest(prefixes, s, maxlen, floor)
  for n = math.min(#s, maxlen), floor + 1, -1 do
    local g = prefixes[sub(s, 1, n)]
    if type(g) == "string" then
      return g, n
    end
  end
  return nil, 0
end

-- has_separator is a cheap test before the gsub: most callees have none.
local function has_separator(s)
  return find(s, " ", 1, true) or find(s, "-", 1, true) or find(s, ".", 1, true)
    or find(s, "(", 1, true) or find(s, "\t", 1, true)
end

function check(args)
  if type(args.prefixes) ~= "table" then
    error("args.prefixes is required: a map of callee prefix -> group")
  end
  for p, g in pairs(args.prefixes) do
    if type(p) ~= "string" or p == "" or type(g) ~= "string" or g == "" then
      error("args.prefixes: " .. tostring(p) .. " -> " .. tostring(g) .. " is not a non-empty prefix -> group")
    end
  end
end

function split(req, args)
  local prefixes = args.prefixes
  local maxlen = args.max_prefix_len or 16
  local callee = req.callee
  local normalize = args.normalize ~= false
  if normalize and has_separator(callee) then
    callee = string.gsub(callee, "[%s%-%.%(%)]", "")
  end
  if callee == "" then
    return nil
  end
  local best, bestlen = longest(prefixes, callee, maxlen, 0)
  if normalize then
    -- Try the other spelling of the international prefix; a match is
    -- measured in the callee's own spelling ("+86" is as long as "0086").
    local alt, shift
    if sub(callee, 1, 2) == "00" then
      alt, shift = "+" .. sub(callee, 3), 1
    elseif sub(callee, 1, 1) == "+" then
      alt, shift = "00" .. sub(callee, 2), -1
    end
    if alt then
      local g, n = longest(prefixes, alt, maxlen, math.max(bestlen - shift, 0))
      if g then
        best = g
      end
    end
  end
  return best
end
