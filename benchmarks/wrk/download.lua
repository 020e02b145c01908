-- GET result files in turn: the paths are the lines of the file named by $IMGEMU_PATHS.
local paths = {}
for line in io.lines(os.getenv("IMGEMU_PATHS")) do
  paths[#paths + 1] = line
end
local next_path = 0
request = function()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
