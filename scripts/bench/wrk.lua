-- wrk script for `make bench` (scripts/bench/run.sh). One script for every phase, chosen by
-- environment variables (wrk's Lua has os.getenv):
--
--   BENCH_MODE   quote | account | orders_list | order | login
--   BENCH_USERS  seeded users, one per line: access_token <TAB> email <TAB> password
--   BENCH_OUT    where done() writes one JSON object with the phase's numbers
--
-- Every request takes the next user of the list (each thread starts at a different offset), so
-- the load is spread over many accounts, tokens and sessions. response() counts every answer
-- that is not 2xx (wrk's own "status errors" would let 3xx through).

local mode = os.getenv("BENCH_MODE") or "quote"
local users_file = os.getenv("BENCH_USERS")
local out_file = os.getenv("BENCH_OUT")

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

local users = {}
local pos = 0

function init(args)
    for line in io.lines(users_file) do
        local token, email, password = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
        if token then
            users[#users + 1] = { token = token, email = email, password = password }
        end
    end
    if #users == 0 then
        error("no users in " .. tostring(users_file))
    end
    pos = ((tid or 0) * 7919) % #users
    non2xx = 0
    last_bad = ""
end

local order_body = '{"symbol":"AAPL","side":"buy","type":"limit","qty":"1","limit_price":"1.00","time_in_force":"gtc"}'

function request()
    pos = pos % #users + 1
    local u = users[pos]
    local auth = { ["Authorization"] = "Bearer " .. u.token }
    if mode == "quote" then
        return wrk.format("GET", "/api/v1/market-data/quotes/AAPL", auth)
    elseif mode == "account" then
        return wrk.format("GET", "/api/v1/account", auth)
    elseif mode == "orders_list" then
        return wrk.format("GET", "/api/v1/orders?limit=50", auth)
    elseif mode == "order" then
        auth["Content-Type"] = "application/json"
        return wrk.format("POST", "/api/v1/orders", auth, order_body)
    elseif mode == "login" then
        local body = string.format('{"email":"%s","password":"%s"}', u.email, u.password)
        return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
    end
    error("unknown BENCH_MODE " .. mode)
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        last_bad = status .. " " .. string.sub(body or "", 1, 160)
    end
end

local function json_string(s)
    s = string.gsub(s or "", '[%c"\\]', " ")
    return '"' .. s .. '"'
end

function done(summary, latency, requests)
    local bad, sample = 0, ""
    for _, t in ipairs(threads) do
        bad = bad + (tonumber(t:get("non2xx")) or 0)
        local s = t:get("last_bad")
        if s and s ~= "" then
            sample = s
        end
    end
    local e = summary.errors
    local f = assert(io.open(out_file, "w"))
    f:write(string.format(
        '{"mode":"%s","requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
            .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"non2xx":%d,"p50_us":%d,"p90_us":%d,'
            .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"sample_error":%s}\n',
        mode, summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
        e.timeout, bad, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean, json_string(sample)))
    f:close()
end
