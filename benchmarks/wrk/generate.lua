-- POST an OpenAI generation (wrk -s benchmarks/wrk/generate.lua URL/v1/images/generations).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer bench"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": "gpt-image-1", "prompt": "A clean product photo of a red apple", '
  .. '"size": "1024x1024", "quality": "low"}'
