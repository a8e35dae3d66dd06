# A warm pool's python, started ahead as `python3 -c <this> FILE`: loaded, it says so (one byte, 0x01, on stderr,
# which the pool takes and the program never sees) and waits for the host's go (one byte on stdin, sent once
# FILE is in place), then runs FILE as `python3 FILE` would: as __main__, with sys.argv,
# sys.path[0] and __file__ as for a script, and a traceback that shows the program's frames only. The rest of
# stdin is the program's. Nothing of the program's runs before the go, and no module is imported here that a
# plain start would not have imported.
#
# A session's spare waits while other processes of the session may go on: when what decides how python starts
# (the directories on sys.path and the site directories, their .pth files, the user's site directory appearing)
# changed meanwhile, it starts anew at the go (exec of `python3 FILE`), as a plain start would have seen it.
def _mcp_sandbox_start():
    import os
    import sys

    def startup_state(pths):
        site = sys.modules.get("site")
        site_dirs = []
        if site is not None:
            site_dirs = list(getattr(site, "getsitepackages", list)()) + [getattr(site, "USER_SITE", None) or ""]
        state = []
        for d in [d for d in sys.path if d] + site_dirs:
            try:
                st = os.stat(d)
                state.append((d, st.st_ino, st.st_mtime_ns))
            except OSError:
                state.append((d, None))
        if pths is None:
            pths = []  # only site directories' .pth files are read at a start
            for d in site_dirs:
                try:
                    pths += [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".pth")]
                except OSError:
                    pass
        for p in pths:
            try:
                st = os.stat(p)
                state.append((p, st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                state.append((p, None))
        return pths, state

    pths, loaded = startup_state(None)
    os.write(2, b"\x01")
    if os.read(0, 1) != b"\x01":
        os._exit(0)  # the pool closed it without a program: nothing to run
    path = sys.argv[1]
    if startup_state(pths)[1] != loaded:
        os.execv(sys.executable, sys.orig_argv[:1] + [path])
    sys.argv = sys.argv[1:]
    sys.orig_argv = sys.orig_argv[:1] + sys.argv
    sys.path[0] = os.path.dirname(path)
    main = sys.modules["__main__"].__dict__
    del main["_mcp_sandbox_start"]
    main["__file__"] = path
    main["__cached__"] = None
    main["__loader__"] = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (sys.orig_argv[0], path, e.errno, e.strerror))
        sys.exit(2)
    try:
        exec(compile(source, path, "exec"), main)
    except SystemExit:
        raise
    except BaseException as e:
        # As an uncaught exception of `python3 FILE`: the traceback from the program's first frame, exit 1
        # (or death by SIGINT for KeyboardInterrupt).
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        if isinstance(e, KeyboardInterrupt):
            import signal
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        sys.exit(1)


_mcp_sandbox_start()
