-- POST the seed body of the queue benchmark (wrk -s benchmarks/wrk/submit.lua URL).
wrk.method = "POST"
wrk.headers["Authorization"] = "Key bench"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"prompt": "A clean product photo of a red apple on a white table, soft studio lighting.", '
  .. '"n": 1, "size": "1024x1024", "quality": "medium", "background": "auto", '
  .. '"output_format": "jpeg", "output_compression": 90, "moderation": "auto"}'
