-- GET a job's status URL (wrk -s benchmarks/wrk/status.lua STATUS_URL).
wrk.method = "GET"
wrk.headers["Authorization"] = "Key bench"
