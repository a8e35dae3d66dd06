# The persistent python interpreter of a session (mcp-sandbox, docs/sessions.md "Persistent mode").
# Started once as [python3, -u, -c, <this file>]; reads cells from its stdin, each as a header line
# "<token> <meta bytes> <code bytes>\n", then the meta JSON ({"cwd": ..., "env": {...}}), then the code (UTF-8).
# It runs each cell in one namespace that lives as long as the process, and ends it with a marker holding the
# token on stdout (with {"status": "ok"|"error", "result": text|null}) and on stderr. The cell's code runs in
# this process and can read the token or write a marker itself: the markers only frame this session's own
# output; the host enforces nothing on them.
import ast
import builtins
import json
import linecache
import os
import sys
import traceback

MAGIC = b"\x00mcp-cell-end:"
RESULT_CHARS = 65536
HEADER_BYTES = 128


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def read_exact(fd, n):
    parts = []
    while n > 0:
        part = os.read(fd, min(n, 1 << 20))
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_header(fd):
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(fd, 1)
        if not c:
            return None
        line += c
        if len(line) > HEADER_BYTES:
            raise ValueError("cell header too long")
    token, meta_len, code_len = line.split()
    if len(token) != 32 or any(ch not in b"0123456789abcdef" for ch in token):
        raise ValueError("bad cell token")
    return token, int(meta_len), int(code_len)


def flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass


def print_error(skip_driver_frame):
    kind, value, tb = sys.exc_info()
    try:
        traceback.print_exception(kind, value, tb.tb_next if skip_driver_frame and tb else None)
    except BaseException:
        pass


def run_cell(ns, number, meta, code):
    try:
        os.makedirs(meta["cwd"], exist_ok=True)
        os.chdir(meta["cwd"])
        os.environ.update(meta["env"])
    except OSError as e:
        print("cannot use the working directory %s: %s" % (meta["cwd"], e), file=sys.stderr)
        return "error", None
    name = "<cell %d>" % number
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        tree = ast.parse(code, name, "exec")
    except (SyntaxError, ValueError):
        print_error(False)
        return "error", None
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    try:
        exec(compile(tree, name, "exec"), ns)
        value = eval(compile(last, name, "eval"), ns) if last is not None else None
        if value is None:
            return "ok", None
        text = repr(value)
    except BaseException:
        print_error(True)
        return "error", None
    if len(text) > RESULT_CHARS:
        text = text[:RESULT_CHARS] + "... (%d characters cut)" % (len(text) - RESULT_CHARS)
    return "ok", text


def main():
    # Cells come from a private copy of stdin; the cell's own stdin reads /dev/null. Markers go to private
    # copies of stdout and stderr (the same pipes, so they follow what the cell printed), which a cell that
    # closes fd 1 or 2 does not close.
    cells = os.dup(0)
    out = os.dup(1)
    err = os.dup(2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    number = 0
    while True:
        header = read_header(cells)
        if header is None:
            return
        token, meta_len, code_len = header
        meta = read_exact(cells, meta_len)
        code = read_exact(cells, code_len)
        if meta is None or code is None:
            return
        number += 1
        status, result = run_cell(ns, number, json.loads(meta), code.decode("utf-8", "replace"))
        flush()
        payload = json.dumps({"status": status, "result": result}, ensure_ascii=False)
        try:
            write_all(out, MAGIC + token + b" " + payload.encode("utf-8", "replace") + b"\n")
            write_all(err, MAGIC + token + b"\n")
        except OSError:
            os._exit(70)  # its markers cannot get out: end, the host restarts it


main()
