-- wrk script for the IMDSv2 credential fetch (scripts/bench.sh).
--
-- Usage: wrk ... -s benches/wrk/imds.lua http://127.0.0.1:PORT -- ROLE_PATH
--
-- Every connection's first request is `PUT /latest/api/token` (requests go out before any
-- answer arrives, so each connection starts with one); the first token answered is kept by
-- the wrk thread and every later request is `GET ROLE_PATH` with
-- `X-aws-ec2-metadata-token`, as an SDK does after fetching a token. A 401 drops the token,
-- so the next request fetches a new one. The same script drives the baseline server, which
-- answers the PUT with a token of the same size.

local path = "/latest/meta-data/iam/security-credentials/needroleshere-test"
local put = nil
local get = nil
local token = nil

function init(args)
  if args[1] ~= nil then
    path = args[1]
  end
  put = wrk.format("PUT", "/latest/api/token",
    { ["X-aws-ec2-metadata-token-ttl-seconds"] = "21600" })
end

function request()
  if get == nil then
    return put
  end
  return get
end

function response(status, headers, body)
  if get == nil then
    if status == 200 then
      token = body
      get = wrk.format("GET", path, { ["X-aws-ec2-metadata-token"] = token })
    end
  elseif status == 401 then
    token = nil
    get = nil
  end
end
