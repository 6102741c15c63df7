-- wrk script for `make bench` (scripts/bench/run.sh). One script for every phase, chosen by
-- environment variables (wrk's Lua has os.getenv):
--
--   BENCH_MODE   quote | account | orders_list | order | login
--   BENCH_USERS  seeded users, one per line: access_token <TAB> email <TAB> password
--   BENCH_OUT    where done() writes one JSON object with the phase's numbers
--
-- Every request takes the next user of the list (each thread starts at a different offset), so
-- the load is spread over many accounts, tokens and sessions. Requests are formatted once, in
-- init(), and there is no response() callback (with one, wrk hands every answer's headers and
-- body to Lua): the load generator shares the two cores with what it measures, so it stays lean.
-- wrk counts answers >= 400 (status_errors); run.sh counts every non-2xx answer from the
-- server's own request counter as well.

local mode = os.getenv("BENCH_MODE") or "quote"
local users_file = os.getenv("BENCH_USERS")
local out_file = os.getenv("BENCH_OUT")

local threads = 0

function setup(thread)
    thread:set("tid", threads)
    threads = threads + 1
end

local reqs = {}
local pos = 0

local order_body = '{"symbol":"AAPL","side":"buy","type":"limit","qty":"1","limit_price":"1.00","time_in_force":"gtc"}'

local function format(token, email, password)
    local auth = { ["Authorization"] = "Bearer " .. token }
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
        local body = string.format('{"email":"%s","password":"%s"}', email, password)
        return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
    end
    error("unknown BENCH_MODE " .. mode)
end

function init(args)
    for line in io.lines(users_file) do
        local token, email, password = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
        if token then
            reqs[#reqs + 1] = format(token, email, password)
        end
    end
    if #reqs == 0 then
        error("no users in " .. tostring(users_file))
    end
    pos = ((tid or 0) * 7919) % #reqs
end

function request()
    pos = pos % #reqs + 1
    return reqs[pos]
end

function done(summary, latency, requests)
    local e = summary.errors
    local f = assert(io.open(out_file, "w"))
    f:write(string.format(
        '{"mode":"%s","requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,'
            .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
            .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        mode, summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean))
    f:close()
end
