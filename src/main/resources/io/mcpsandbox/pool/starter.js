// A warm pool's node, started ahead as `node -e <this> FILE`: loaded, it says so (one byte, 0x01, on stderr,
// which the pool takes and the program never sees) and waits for the host's go (one byte on stdin, sent once
// FILE is in place), then runs FILE as `node FILE` would (the main module, require.main, argv). The
// rest of stdin is the program's. Nothing of the program's runs before the go.
(function () {
  const fs = require('fs');
  const go = Buffer.alloc(1);
  fs.writeSync(2, Buffer.from([1]));
  let n;
  for (;;) {
    try {
      n = fs.readSync(0, go, 0, 1, null);
      break;
    } catch (e) {
      if (e.code !== 'EAGAIN' && e.code !== 'EINTR') {
        throw e;
      }
    }
  }
  if (n !== 1 || go[0] !== 1) {
    process.exit(0); // the pool closed it without a program: nothing to run
  }
  require('module').runMain(process.argv[1]);
})();
