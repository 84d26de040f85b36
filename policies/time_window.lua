-- time_window: send tasks to a group during a time-of-day window, e.g. to
-- keep collection calls out of quiet hours.
--
-- args:
--   group               the group to return (required)
--   start, stop         "HH:MM" local times (required); the window is
--                       [start, stop). stop may be "24:00". When stop is
--                       before start the window crosses midnight
--                       ("21:00"-"09:00"), and belongs to the day it starts on.
--   utc_offset_minutes  the local time's offset from UTC (default 0; 480 = UTC+8)
--   days                ISO weekdays the window opens on, 1 = Monday ... 7 = Sunday
--                       (default every day)
--   outside             true returns group outside the window instead
-- Returns nil otherwise.

local function minutes(s, name)
  local h, m = string.match(type(s) == "string" and s or "", "^(%d%d?):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or m > 59 or h > 24 or (h == 24 and m > 0) then
    error("args." .. name .. " must be a time HH:MM from 00:00 to 24:00, got " .. tostring(s))
  end
  return h * 60 + m
end

function check(args)
  if type(args.group) ~= "string" or args.group == "" then
    error("args.group is required: the group to return")
  end
  if minutes(args.start, "start") == minutes(args.stop, "stop") then
    error("args.start equals args.stop; use 00:00 and 24:00 for a whole day")
  end
  local off = args.utc_offset_minutes
  if off ~= nil and (type(off) ~= "number" or off < -1440 or off > 1440) then
    error("args.utc_offset_minutes must be a number of minutes within +-1440")
  end
  if args.days ~= nil then
    if type(args.days) ~= "table" then
      error("args.days must be a list of weekdays 1 (Monday) to 7 (Sunday)")
    end
    for _, d in ipairs(args.days) do
      if type(d) ~= "number" or d < 1 or d > 7 or d % 1 ~= 0 then
        error("args.days: " .. tostring(d) .. " is not a weekday 1 (Monday) to 7 (Sunday)")
      end
    end
  end
end

-- hhmm reads a time check has already validated, without a pattern.
local function hhmm(s)
  return tonumber(string.sub(s, 1, -4)) * 60 + tonumber(string.sub(s, -2))
end

function split(req, args)
  local start, stop = hhmm(args.start), hhmm(args.stop)
  local now, day = daytime(req.now, args.utc_offset_minutes or 0)
  local inside
  if start < stop then
    inside = now >= start and now < stop
  elseif now >= start then
    inside = true
  elseif now < stop then
    inside = true
    day = day == 1 and 7 or day - 1 -- the window opened yesterday
  else
    inside = false
  end
  if inside and args.days then
    inside = false
    for _, d in ipairs(args.days) do
      if d == day then
        inside = true
        break
      end
    end
  end
  if inside ~= (args.outside == true) then
    return args.group
  end
  return nil
end
