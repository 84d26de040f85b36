-- region_route: send a task to the group listed for its region.
--
-- args: a map region -> group, e.g. {sh: east, gz: south} (SPEC §2), or the
-- same map under args.regions when a region could be named "attr".
-- args.attr names the attr holding the region (default "region").
-- The region is matched as given, then lower-cased ("SH" finds sh).
-- Returns nil (no match) when the task has no region or it is not listed.
function split(req, args)
  local attr = args.attr or "region"
  local region = req.attrs[attr]
  if region == nil or region == "" then
    return nil
  end
  local map = args.regions or args
  local group = map[region] or map[string.lower(region)]
  if type(group) ~= "string" or (map == args and region == "attr") then
    return nil
  end
  return group
end
