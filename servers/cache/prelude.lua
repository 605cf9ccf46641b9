-- The sandbox every script runs in (servers/cache/scripting.py runs this once per
-- Lua state). It receives the Python helpers and returns the functions Python
-- drives. Afterwards the real global table is empty and read-only: reads go to a
-- hidden table of the allowed globals (a missing name is an error), writes fail,
-- as in Redis 7.0's locked globals.
local py, libs = ...
local G = _G
local dbg_getinfo, dbg_sethook, dbg_getregistry = debug.getinfo, debug.sethook, debug.getregistry
local error, type, tostring, rawget, rawset, setmetatable, getmetatable, select, unpack, xpcall,
      loadstring, lua_pcall, next, pairs =
      error, type, tostring, rawget, rawset, setmetatable, getmetatable, select, unpack, xpcall,
      loadstring, pcall, next, pairs
local INTERNAL = dbg_getinfo(1, 'S').source
local dump, py_untail = string.dump, py.untail
-- The redis.* functions are Python (C functions to Lua, so a tail call to one keeps the
-- caller's frame, as Redis's C functions do): they raise their error as a Python
-- exception, which Lua sees as a userdata; every place an error value surfaces takes
-- the {err=...} table (or message) out of it.
local py_unwrap = py.unwrap
local function unwrap(e)
  if type(e) == 'userdata' then return py_unwrap(e) end
  return e
end

local protected = setmetatable({}, {__mode = 'k'})
local function ro_error() error("Attempt to modify a readonly table", 2) end
local ro_meta_proxy = {}
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = ro_error, __metatable = ro_meta_proxy})
  protected[p] = true
  return p
end
setmetatable(ro_meta_proxy, {__newindex = ro_error, __metatable = ro_meta_proxy})
protected[ro_meta_proxy] = true

-- The allowed globals (Redis's allow lists), kept in a hidden table.
local H = {}
for _, name in pairs({'xpcall', 'tostring', 'next', 'assert', 'tonumber', 'rawequal', 'rawget',
                      'collectgarbage', 'coroutine', 'type', 'select', 'gcinfo',
                      'pairs', 'ipairs', '_VERSION', 'error'}) do
  H[name] = G[name]
end

-- Stock Lua 5.1's unpack overflows an int counting huge ranges (and crashes the
-- process); Redis's Lua is patched. Refuse such ranges before calling it.
H.unpack = function(...)
  local n, t, i, j = select('#', ...), ...
  if type(i) == 'number' and type(j) == 'number' and j - i >= 2147483647 then
    error("too many results to unpack", 2)
  end
  -- pass exactly the arguments given: each one takes a slot of the 8000 C stack slots
  if n <= 1 then return unpack(t) end
  if n == 2 then return unpack(t, i) end
  return unpack(...)
end
H.setmetatable = function(t, mt)
  if protected[t] then error("Attempt to modify a readonly table", 2) end
  return setmetatable(t, mt)
end
H.getmetatable = getmetatable
H.rawset = function(t, k, v)
  if protected[t] or t == G then error("Attempt to modify a readonly table", 2) end
  return rawset(t, k, v)
end
H.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then return nil, 'binary chunks are not allowed' end
  return loadstring(s, name)
end
H.load = function(f, name)
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == '' then break end
    parts[#parts + 1] = piece
  end
  return H.loadstring(table.concat(parts), name)
end
-- Redis 7 pcall: an error table {err=...} comes back as its message.
-- (lua_isstring: a number is a message too, {err=12} gives 12)
H.pcall = function(f, ...)
  local r = {lua_pcall(f, ...)}
  if not r[1] then
    local e = unwrap(r[2])
    local m = type(e) == 'table' and rawget(e, 'err')
    if type(m) == 'string' or type(m) == 'number' then return false, m end
    return false, e
  end
  return unpack(r, 1, table.maxn(r))
end
H.xpcall = function(f, handler)
  return xpcall(f, function(e) return handler(unwrap(e)) end)
end

-- redis.*
local pycall_args, pycall_table, redis = py.pcall, py.pcall_table, {}
local function pycall(...)
  -- lupa needs 2 free stack slots besides the arguments: unpack(t, 1, 7999), as Redis's
  -- own tests do, would not reach Python. Long calls go as a table.
  local n = select('#', ...)
  if n > 200 then return pycall_table({...}, n) end
  return pycall_args(...)
end
-- A command's error was counted in errorstats where it happened (the third value):
-- the table says so, and the script's reply carrying it on is not counted again
-- (Redis 7's ignore_error_stats_update field). redis.call is Lua, then (a Python
-- callable cannot take 7999 arguments), so a tail call to it would lose its caller's
-- frame: user code is compiled with those tail calls made plain calls (scripting.py).
redis.call = function(...)
  local ok, v, counted = pycall(...)
  if not ok then error({err = v, ignore_error_stats_update = counted}) end
  return v
end
redis.pcall = function(...)
  local ok, v, counted = pycall(...)
  if not ok then return {err = v, ignore_error_stats_update = counted} end
  return v
end
redis.sha1hex = py.sha1hex
redis.log = py.log
redis.setresp = py.setresp
redis.set_repl = py.set_repl
redis.acl_check_cmd = py.acl_check_cmd
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  if msg:sub(1, 1) ~= '-' then msg = '-' .. msg end  -- "CODE msg" keeps its code
  return {err = py.error_text(msg)}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  return {ok = msg}
end
redis.REDIS_VERSION = py.version
redis.REDIS_VERSION_NUM = py.version_num
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
H.redis = readonly(redis)

-- Libraries implemented in Python (servers/cache/lualibs.py): each function returns
-- ok, value...; a failure becomes a Lua error.
local function lib(fns)
  local t = {}
  for name, f in pairs(fns) do
    t[name] = function(...)
      local r = {f(...)}
      if not r[1] then error(r[2], 2) end
      return unpack(r, 2, table.maxn(r))
    end
  end
  return t
end
local cjson = lib(libs.json)
cjson.null = libs.null
H.cjson = readonly(cjson)
H.cmsgpack = readonly(lib({pack = libs.msgpack_pack, unpack = libs.msgpack_unpack,
                           unpack_one = libs.msgpack_unpack_one,
                           unpack_limit = libs.msgpack_unpack_limit}))
H.bit = readonly(lib(libs.bit))

-- lupa looks up debug.traceback when Python calls into Lua: keep only that.
H.debug = readonly({traceback = debug.traceback})
-- Stock Lua 5.1's pattern matcher recurses once per pattern item with no limit (5.2 added
-- one: "pattern too complex"), so string.rep('a?', 200000) as a pattern overflows the C
-- stack and kills the process, Redis's too. Refuse patterns with more than MAX_PATTERN
-- quantifiers and captures: far more than any real pattern, far less than the stack holds.
local MAX_PATTERN, sgsub = 2000, string.gsub
local function check_pattern(p)
  if type(p) == 'string' and #p > MAX_PATTERN then
    local _, n = sgsub(p, '[%(%)%?%*%+%-]', '')
    if n > MAX_PATTERN then error('pattern too complex', 3) end
  end
end
local string_ = {}
for k, v in pairs(string) do string_[k] = v end
-- (the locals keep the library's names: they are what "bad argument #1 to 'find'" says)
local find, match, gmatch, gsub = string.find, string.match, string.gmatch, string.gsub
string_.find = function(s, p, init, plain)
  if not plain then check_pattern(p) end
  return find(s, p, init, plain)
end
string_.match = function(s, p, ...) check_pattern(p) return match(s, p, ...) end
string_.gmatch = function(s, p, ...) check_pattern(p) return gmatch(s, p, ...) end
string_.gsub = function(s, p, ...) check_pattern(p) return gsub(s, p, ...) end
H.string = readonly(string_)
H.table = readonly(table)
-- SCRIPT KILL's hook is a Lua function, and stock 5.1 keeps such hooks per thread (a
-- coroutine inherits the mask, not the function): a loop inside a coroutine was never
-- interrupted. Each coroutine a script creates gets the hook (``hook_thread``, set
-- below); once killed, resuming a coroutine raises the kill in the resumer too.
local kill_error, hook_thread = nil, nil
local coroutine_ = {}
for k, v in pairs(coroutine) do coroutine_[k] = v end
local co_create, co_resume = coroutine.create, coroutine.resume
local function not_killed()
  if kill_error then error({err = kill_error}, 0) end
end
coroutine_.create = function(f)
  local co = co_create(f)
  hook_thread(co)
  return co
end
coroutine_.resume = function(...)
  not_killed()
  local r = {co_resume(...)}
  if not r[1] then r[2] = unwrap(r[2]) end
  return unpack(r, 1, table.maxn(r))
end
-- wrap is the real one (a C function, as in Redis: a tail call to it keeps the caller's
-- frame, and a string error gets the resumer's position): the body hooks its own thread.
local co_wrap, co_running = coroutine.wrap, coroutine.running
coroutine_.wrap = function(f)
  return co_wrap(function(...)
    hook_thread(co_running())
    not_killed()
    return f(...)
  end)
end
H.coroutine = readonly(coroutine_)
local math_ = {}
for k, v in pairs(math) do math_[k] = v end
H.math = readonly(math_)
-- The string metatable is reachable with getmetatable(''): make it read-only too.
local string_mt = getmetatable('')
string_mt.__index = H.string
string_mt.__metatable = readonly(string_mt)

-- What FUNCTION LOAD's library code sees instead (Redis's load-time globals): only a
-- small redis table; math, getmetatable and the rest are out of reach.
local function strict(t)
  return setmetatable({}, {
    __index = function(_, k)
      local v = rawget(t, k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = ro_error, __metatable = ro_meta_proxy})
end
local load_redis = {register_function = py.register_function, log = redis.log,
                    REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
for _, level in pairs({'LOG_DEBUG', 'LOG_VERBOSE', 'LOG_NOTICE', 'LOG_WARNING'}) do
  load_redis[level] = redis[level]
end
local LOAD = {redis = strict(load_redis)}
protected[LOAD.redis] = true
local loading = false

-- Lock the real global table: everything reads through H (or LOAD while loading).
for k in pairs(G) do rawset(G, k, nil) end
local function missing(_, k)
  if k == '_G' then return G end
  local v = rawget(loading and LOAD or H, k)
  if v == nil then
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end
  return v
end
setmetatable(G, {__index = missing, __newindex = ro_error, __metatable = readonly({})})
protected[G] = true

local hook, killed = nil, py.killed
local function arm() dbg_sethook(hook, '', 100000) end
-- debug.sethook keeps each thread's hook function in a registry table keyed by the
-- thread's address, never cleared: each run drops the entries of the coroutines it made
-- (found once: the table whose only entry is the main thread's hook), else a script
-- making a million coroutines would fill the state for good.
local hooktable, main_key = nil, nil
hook_thread = function(co) dbg_sethook(co, hook, '', 100000) end
local function find_hooktable()
  for _, t in pairs(dbg_getregistry()) do
    if type(t) == 'table' then
      for k, v in pairs(t) do
        if v == hook and type(k) == 'userdata' then hooktable, main_key = t, k end
      end
    end
  end
end
local function unhook_all()
  if hooktable == nil then return end
  for k in pairs(hooktable) do
    if k ~= main_key then hooktable[k] = nil end
  end
end
local running = false  -- inside api.run: only then may the kill hook raise

-- Errors keep where they happened, as Redis's __redis__err__handler does.
local function err_handler(err)
  running = false  -- the script is over; a kill must not fail the handler itself
  err = unwrap(err)
  local level = 2
  local i = dbg_getinfo(level, 'nSl')
  while i and (i.what == 'C' or i.source == INTERNAL) do
    level = level + 1
    i = dbg_getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' or protected[err] then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i and i.what ~= 'tail' then  -- a tail call lost the caller's frame: no position
    rawset(err, 'source', i.source)
    rawset(err, 'line', i.currentline)
  end
  return err
end

-- SCRIPT KILL: a count hook asks Python every 100000 instructions; once killed it
-- fires on every line so that pcall cannot swallow the error for long.
hook = function()
  if running then
    local why = killed()  -- nil, or the error to stop with
    if why then
      dbg_sethook(hook, 'l')
      kill_error = why
      error({err = why})
    end
  end
end


local api = {}
api.compile = function(code, chunkname)
  local f, err = loadstring(code, chunkname)
  if not f then return nil, err end
  local patched = py_untail(dump(f))  -- `return redis.call(...)` keeps its frame
  return patched and loadstring(patched, chunkname) or f
end
api.run = function(f, keys, args)
  -- ok, the first return value (or the error table)
  local ok, v
  running, kill_error = true, nil
  if keys == nil then
    ok, v = xpcall(f, err_handler)
  else
    ok, v = xpcall(function() return f(keys, args) end, err_handler)
  end
  running = false
  unhook_all()
  arm()
  return ok, v
end
api.load = function(f)
  -- run a library's code with the load-time globals
  loading, running, kill_error = true, true, nil
  local ok, v = xpcall(f, err_handler)
  loading, running = false, false
  unhook_all()
  arm()
  return ok, v
end
api.set_args = function(keys, argv)
  H.KEYS, H.ARGV = keys, argv
end
arm()
find_hooktable()
api.shape = function(t)
  -- How a returned table converts (Redis 7.0 checks these fields raw, in this order).
  local v = rawget(t, 'err')
  if type(v) == 'string' then return 'err', v end
  v = rawget(t, 'ok')
  if type(v) == 'string' then return 'ok', v end
  v = rawget(t, 'double')
  if type(v) == 'number' then return 'double', v end
  v = rawget(t, 'big_number')
  if type(v) == 'string' then return 'big_number', v end
  v = rawget(t, 'map')
  if type(v) == 'table' then return 'map', v end
  v = rawget(t, 'set')
  if type(v) == 'table' then return 'set', v end
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  return 'array', n
end
api.counted = function(t)
  return type(t) == 'table' and rawget(t, 'ignore_error_stats_update') == true
end
api.is_protected = function(t) return protected[t] == true end
return api
