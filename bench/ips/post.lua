-- A 1 KB urlencoded form POST (wrk -s post.lua).
local fields = {}
for i = 1, 16 do
  fields[#fields + 1] = string.format("field%02d=%s", i, string.rep(string.char(96 + i), 52))
end
wrk.method = "POST"
wrk.body = table.concat(fields, "&")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
