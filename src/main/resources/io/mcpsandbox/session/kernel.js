// The persistent node interpreter of a session (mcp-sandbox, docs/sessions.md "Persistent mode").
// Started once as [node, -e, <this file>]; reads cells from its stdin, each as a header line
// "<token> <meta bytes> <code bytes>\n", then the meta JSON ({"cwd": ..., "env": {...}}), then the code (UTF-8).
// Each cell runs as a script in this one global context (vm.runInThisContext: top-level let, const, class and
// function persist); its completion value (awaited if it is a Promise) is the result, shown by util.inspect.
// The cell ends with a marker holding the token on stdout (with {"status": "ok"|"error", "result": text|null})
// and on stderr. The cell's code runs in this process and can read or fake the markers: they only frame this
// session's own output; the host enforces nothing on them.
'use strict';
(() => {
  const fs = require('fs');
  const vm = require('vm');
  const util = require('util');
  const MAGIC = Buffer.from('\u0000mcp-cell-end:', 'latin1');
  const RESULT_CHARS = 65536;
  const HEADER_BYTES = 128;
  globalThis.require = require;

  // Private copies of the three pipes (a new open of the same pipe): markers follow what the cell printed,
  // and a cell that closes fd 1 or 2 does not close them.
  const reopen = (fd, flags) => {
    try {
      return fs.openSync('/proc/self/fd/' + fd, flags);
    } catch (e) {
      return fd;
    }
  };
  const cells = reopen(0, 'r');
  const out = reopen(1, 'w');
  const err = reopen(2, 'w');

  const writeAll = (fd, data) => {
    let at = 0;
    while (at < data.length) {
      try {
        at += fs.writeSync(fd, data, at, data.length - at);
      } catch (e) {
        if (e.code !== 'EAGAIN') {
          throw e;
        }
      }
    }
  };

  // A background callback that throws or a Promise nobody awaits is reported, not fatal (as in the REPL).
  process.on('uncaughtException', (e) => process.stderr.write(describe(e) + '\n'));
  process.on('unhandledRejection', (e) => process.stderr.write('unhandled rejection: ' + describe(e) + '\n'));

  // The stack down to the cell: the driver's own frames (from vm's) are cut.
  function describe(e) {
    try {
      if (!(e instanceof Error) || typeof e.stack !== 'string') {
        return 'Uncaught ' + util.inspect(e);
      }
      const lines = e.stack.split('\n');
      const driver = lines.findIndex((line) => /^\s+at .*\(node:vm:/.test(line));
      return (driver < 0 ? lines : lines.slice(0, driver)).join('\n');
    } catch (ignored) {
      return 'Uncaught exception';
    }
  }

  async function runCell(number, meta, code) {
    try {
      fs.mkdirSync(meta.cwd, { recursive: true });
      process.chdir(meta.cwd);
      Object.assign(process.env, meta.env);
    } catch (e) {
      process.stderr.write('cannot use the working directory ' + meta.cwd + ': ' + e.message + '\n');
      return { status: 'error', result: null };
    }
    let value;
    try {
      value = vm.runInThisContext(code, { filename: 'cell' + number + '.js' });
      if (util.types.isPromise(value)) {
        value = await value;
      }
    } catch (e) {
      process.stderr.write(describe(e) + '\n');
      return { status: 'error', result: null };
    }
    if (value === undefined) {
      return { status: 'ok', result: null };
    }
    let text;
    try {
      text = util.inspect(value);
    } catch (e) {
      process.stderr.write(describe(e) + '\n');
      return { status: 'error', result: null };
    }
    if (text.length > RESULT_CHARS) {
      text = text.slice(0, RESULT_CHARS) + '... (' + (text.length - RESULT_CHARS) + ' characters cut)';
    }
    return { status: 'ok', result: text };
  }

  let pending = Buffer.alloc(0);
  let number = 0;

  async function next() {
    const nl = pending.indexOf(10);
    if (nl < 0) {
      if (pending.length > HEADER_BYTES) {
        throw new Error('cell header too long');
      }
      return false;
    }
    const [token, metaLength, codeLength] = pending.subarray(0, nl).toString('latin1').split(' ');
    if (!/^[0-9a-f]{32}$/.test(token)) {
      throw new Error('bad cell token');
    }
    const start = nl + 1;
    const end = start + Number(metaLength) + Number(codeLength);
    if (pending.length < end) {
      return false;
    }
    const meta = JSON.parse(pending.subarray(start, start + Number(metaLength)).toString('utf8'));
    const code = pending.subarray(start + Number(metaLength), end).toString('utf8');
    pending = pending.subarray(end);
    number++;
    const ended = await runCell(number, meta, code);
    const payload = Buffer.from(JSON.stringify(ended), 'utf8');
    const tag = Buffer.from(token, 'latin1');
    try {
      writeAll(out, Buffer.concat([MAGIC, tag, Buffer.from(' '), payload, Buffer.from('\n')]));
      writeAll(err, Buffer.concat([MAGIC, tag, Buffer.from('\n')]));
    } catch (e) {
      process.exit(70); // its markers cannot get out: end, the host restarts it
    }
    return true;
  }

  // Reads through the thread pool (a blocking read of the pipe there), so timers and Promises of earlier
  // cells keep running between cells.
  const chunk = Buffer.alloc(1 << 16);
  function read() {
    fs.read(cells, chunk, 0, chunk.length, null, async (e, n) => {
      if (e || n === 0) {
        process.exit(0);
      }
      pending = Buffer.concat([pending, chunk.subarray(0, n)]);
      try {
        while (await next()) {
          // one cell after another
        }
      } catch (broken) {
        process.stderr.write('the cell protocol broke: ' + broken.message + '\n');
        process.exit(65);
      }
      read();
    });
  }
  read();
})();
