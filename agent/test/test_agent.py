#!/usr/bin/env python3
"""Protocol tests for the built agent (docs/agent-protocol.md), driven as a plain child process.

The harness plays the host: it writes frames to the agent's stdin and checks every frame the agent writes
against the protocol's size and order rules before a test sees it. With AGENT_PID1=1 (as root) every agent
runs as PID 1 of a new pid namespace (unshare --pid --fork --mount-proc).
"""
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, '..', 'build', 'mcp-agent')
PID1 = os.environ.get('AGENT_PID1') == '1'
MAX_PAYLOAD = 65536
START, STDIN, STDIN_CLOSE, SIGNAL, SHUTDOWN = 0x01, 0x02, 0x03, 0x04, 0x05
READY, STARTED, STDOUT, STDERR, EXIT, ERROR = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86
PATH_ENV = {'PATH': '/usr/bin:/bin'}


def frame(ftype, stream, payload=b''):
    return struct.pack('>IBI', len(payload) + 5, ftype, stream) + payload


def start_payload(argv, env=None, cwd='/'):
    env = PATH_ENV if env is None else env
    strings = [cwd] + list(argv) + ['%s=%s' % kv for kv in env.items()]
    return struct.pack('>HH', len(argv), len(env)) + b''.join(s.encode() + b'\0' for s in strings)


class Result:
    def __init__(self):
        self.pid = None
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exit = None      # (kind, value)
        self.error = None     # text of an error frame for this id
        self.largest = 0      # the largest output frame's payload

    @property
    def done(self):
        return self.exit is not None or self.error is not None


class Agent:
    """One agent process and a strict reader of what it says."""

    def __init__(self, test):
        cmd = [BIN] if not PID1 else ['unshare', '--pid', '--fork', '--mount-proc', BIN]
        self.errlog = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errlog)
        test.addCleanup(self.cleanup)
        self.buf = bytearray()
        self.state = {}       # id -> 'sent' | 'running' | 'dead'
        self.results = {}
        self.seen_ready = False
        ftype, stream, payload = self.frame()
        assert ftype == READY and stream == 0, (ftype, stream)
        assert struct.unpack('>H', payload[:2])[0] == 1 and 0 < len(payload) - 2 <= 64
        self.name = payload[2:].decode()

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except BrokenPipeError:
                pass
        self.errlog.close()

    # -- writing --
    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, ftype, stream, payload=b''):
        self.send_raw(frame(ftype, stream, payload))

    def start(self, pid_id, argv, env=None, cwd='/'):
        self.state[pid_id] = 'sent'
        self.results[pid_id] = Result()
        self.send(START, pid_id, start_payload(argv, env, cwd))

    def close_stdin(self):
        self.proc.stdin.close()

    # -- reading --
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no frame from the agent in time')
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not data:
                    return False
                self.buf += data
        return True

    def frame(self, timeout=20):
        """The next frame, checked against the protocol's rules; None at a clean end of file."""
        deadline = time.monotonic() + timeout
        if not self._fill(4, deadline):
            assert not self.buf, 'end of file inside a frame header'
            return None
        length = struct.unpack('>I', self.buf[:4])[0]
        assert 5 <= length <= 5 + MAX_PAYLOAD, length
        assert self._fill(4 + length, deadline), 'end of file inside a frame'
        ftype, stream = struct.unpack('>BI', self.buf[4:9])
        payload = bytes(self.buf[9:4 + length])
        del self.buf[:4 + length]
        self.check(ftype, stream, payload)
        return ftype, stream, payload

    def check(self, ftype, stream, payload):
        state = self.state.get(stream)
        if ftype == READY:
            assert not self.seen_ready and stream == 0, 'ready only first and once'
            self.seen_ready = True
            return
        assert self.seen_ready, 'ready comes first'
        if ftype == ERROR:
            assert 1 <= len(payload) <= 1024
            payload.decode()
            assert stream == 0 or state == 'sent', (stream, state)
        elif ftype == STARTED:
            assert state == 'sent' and len(payload) == 4
        elif ftype in (STDOUT, STDERR):
            assert state == 'running' and 1 <= len(payload) <= MAX_PAYLOAD, (state, len(payload))
        elif ftype == EXIT:
            assert state == 'running' and len(payload) == 2 and payload[0] in (0, 1)
        else:
            raise AssertionError('unexpected frame type %#x' % ftype)
        if stream == 0:
            return
        r = self.results[stream]
        if ftype == STARTED:
            self.state[stream] = 'running'
            r.pid = struct.unpack('>I', payload)[0]
        elif ftype in (STDOUT, STDERR):
            (r.stdout if ftype == STDOUT else r.stderr).extend(payload)
            r.largest = max(r.largest, len(payload))
        elif ftype == EXIT:
            self.state[stream] = 'dead'
            r.exit = (payload[0], payload[1])
        else:
            self.state[stream] = 'dead'
            r.error = payload.decode()

    def until(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate():
            f = self.frame(max(0.01, deadline - time.monotonic()))
            assert f is not None, 'the agent ended early'
            assert f[1] != 0, 'agent error: %r' % (f[2],)

    def wait(self, *ids, timeout=30):
        self.until(lambda: all(self.results[i].done for i in ids), timeout)
        return self.results[ids[0]] if len(ids) == 1 else [self.results[i] for i in ids]

    def wait_started(self, pid_id):
        self.until(lambda: self.state[pid_id] != 'sent')
        return self.results[pid_id]

    def run(self, pid_id, argv, env=None, cwd='/'):
        self.start(pid_id, argv, env, cwd)
        return self.wait(pid_id)

    def expect_end(self, code, timeout=20):
        """Reads to end of file (nothing but an agent error allowed) and returns the error text."""
        text = None
        while True:
            f = self.frame(timeout)
            if f is None:
                break
            if f[0] == ERROR and f[1] == 0:
                text = f[2].decode()
        assert self.proc.wait(timeout) == code, self.proc.returncode
        return text


def gone(pid):
    """True when no process (not even a zombie) has that pid on this host."""
    return not os.path.exists('/proc/%d' % pid)


class ProtocolTest(unittest.TestCase):
    def agent(self):
        return Agent(self)

    def test_ready_then_shutdown(self):
        a = self.agent()
        self.assertTrue(a.name.startswith('mcp-agent'))
        a.send(SHUTDOWN, 0)
        self.assertIsNone(a.expect_end(0))

    def test_argv_env_and_cwd_are_exact(self):
        a = self.agent()
        args = ['a b', ' c ', 'd\te', '$HOME', '*', '\\n']
        r = a.run(1, ['/usr/bin/printf', '[%s]'] + args)
        self.assertEqual((0, 0), r.exit)
        self.assertEqual(''.join('[%s]' % s for s in args).encode(), bytes(r.stdout))
        env = {'PATH': '/usr/bin:/bin', 'EMPTY': '', 'X': 'a=b c', 'LANG': 'C'}
        r = a.run(2, ['env', '-0'], env=env)
        got = dict(e.split('=', 1) for e in r.stdout.decode().split('\0') if e)
        self.assertEqual(env, got)
        r = a.run(3, ['/bin/pwd'], cwd='/usr/share')
        self.assertEqual(b'/usr/share\n', bytes(r.stdout))
        self.assertTrue(r.pid > 1)

    def test_stdout_and_stderr_are_separate(self):
        a = self.agent()
        r = a.run(1, ['/bin/sh', '-c', 'echo out; echo err >&2; echo out2'])
        self.assertEqual((b'out\nout2\n', b'err\n'), (bytes(r.stdout), bytes(r.stderr)))

    def test_large_output_arrives_complete_in_bounded_frames(self):
        a = self.agent()
        size = 10 * 1024 * 1024
        r = a.run(1, ['/bin/sh', '-c', 'yes 0123456789abcdef | head -c %d' % size])
        self.assertEqual((0, 0), r.exit)
        self.assertEqual(size, len(r.stdout))
        self.assertEqual((b'0123456789abcdef\n' * (size // 17 + 1))[:size], bytes(r.stdout))
        self.assertLessEqual(r.largest, MAX_PAYLOAD)

    def test_stdin_is_written_and_closed(self):
        a = self.agent()
        data = os.urandom(300 * 1024)
        a.start(1, ['cat'])
        a.wait_started(1)

        def feed():  # the host writes while it reads, as the real one must
            for i in range(0, len(data), 5000):
                a.send(STDIN, 1, data[i:i + 5000])
            a.send(STDIN_CLOSE, 1)
        writer = threading.Thread(target=feed)
        writer.start()
        r = a.wait(1)
        writer.join()
        self.assertEqual((0, 0), r.exit)
        self.assertEqual(data, bytes(r.stdout))

    def test_stdin_stays_open_until_closed(self):
        a = self.agent()
        a.start(1, ['/bin/sh', '-c', 'read line; echo "got $line"'])
        a.wait_started(1)
        time.sleep(0.2)
        self.assertIsNone(a.results[1].exit)
        a.send(STDIN, 1, b'hello\n')
        a.send(STDIN_CLOSE, 1)
        self.assertEqual(b'got hello\n', bytes(a.wait(1).stdout))

    def feed(self, a, pid_id, data, chunk=MAX_PAYLOAD):
        def run():
            for i in range(0, len(data), chunk):
                a.send(STDIN, pid_id, data[i:i + chunk])
            a.send(STDIN_CLOSE, pid_id)
        writer = threading.Thread(target=run)
        writer.start()
        self.addCleanup(writer.join, 10)

    def test_stdin_for_a_slow_reader_is_held_not_lost(self):
        a = self.agent()
        data = os.urandom(5 * MAX_PAYLOAD)
        a.start(1, ['/bin/sh', '-c', 'sleep 0.5; exec cat'])
        a.wait_started(1)
        self.feed(a, 1, data)  # more than a pipe holds: the agent holds frames while cat sleeps
        r = a.wait(1)
        self.assertEqual((0, 0), r.exit)
        self.assertEqual(data, bytes(r.stdout))

    def test_stdin_for_a_process_that_never_reads_is_dropped_at_its_exit(self):
        a = self.agent()
        a.start(1, ['sleep', '0.3'])
        a.wait_started(1)
        self.feed(a, 1, os.urandom(5 * MAX_PAYLOAD))
        self.assertEqual((0, 0), a.wait(1).exit)
        self.assertEqual(b'ok\n', bytes(a.run(2, ['echo', 'ok']).stdout))

    def test_every_exit_code_and_a_signal_death(self):
        a = self.agent()
        for base in range(0, 256, 60):
            codes = range(base, min(base + 60, 256))
            for c in codes:
                a.start(c + 1, ['/bin/sh', '-c', 'exit %d' % c])
            for c in codes:
                self.assertEqual((0, c), a.wait(c + 1).exit)
        r = a.run(1000, ['/bin/sh', '-c', 'kill -KILL $$'])
        self.assertEqual((1, signal.SIGKILL), r.exit)

    def test_start_failures_are_errors_for_that_id(self):
        a = self.agent()
        r = a.run(1, ['/nonexistent/program'])
        self.assertIsNone(r.pid)
        self.assertIn('No such file', r.error)
        r = a.run(2, ['no-such-program-anywhere'])
        self.assertIn('execute', r.error)
        r = a.run(3, ['/bin/true'], cwd='/etc/hostname/below-a-file')
        self.assertIn('working directory', r.error)
        with tempfile.NamedTemporaryFile(dir='/tmp') as plain:  # not executable, even for root
            r = a.run(4, [plain.name])
        self.assertIn('Permission denied', r.error)
        self.assertEqual((0, 0), a.run(5, ['/bin/true']).exit)

    def test_a_missing_working_directory_is_made(self):
        a = self.agent()
        with tempfile.TemporaryDirectory() as top:
            cwd = os.path.join(top, 'made', 'by', 'the', 'child')
            r = a.run(1, ['/bin/pwd'], cwd=cwd)
            self.assertEqual((0, 0), r.exit)
            self.assertEqual(cwd + '\n', r.stdout.decode())

    def test_signal_frame_reaches_the_process_group(self):
        a = self.agent()
        a.start(1, ['/bin/sh', '-c', 'sleep 100; echo not reached'])
        a.wait_started(1)
        time.sleep(0.1)
        a.send(SIGNAL, 1, bytes([signal.SIGTERM]))
        r = a.wait(1, timeout=10)
        self.assertEqual((1, signal.SIGTERM), r.exit)
        self.assertEqual(b'', bytes(r.stdout))

    def test_frames_for_an_ended_process_are_ignored(self):
        a = self.agent()
        self.assertEqual((0, 0), a.run(1, ['/bin/true']).exit)
        a.send(STDIN, 1, b'late')
        a.send(SIGNAL, 1, bytes([signal.SIGTERM]))
        a.send(STDIN_CLOSE, 1)
        self.assertEqual(b'ok\n', bytes(a.run(2, ['echo', 'ok']).stdout))

    def test_background_descendant_holding_stdout_does_not_hold_the_exit(self):
        a = self.agent()
        t0 = time.monotonic()
        a.start(1, ['/bin/sh', '-c', 'sleep 30 & echo $!'])
        r = a.wait(1, timeout=10)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual((0, 0), r.exit)
        background = int(r.stdout)
        if not PID1:
            os.kill(background, signal.SIGKILL)

    def test_many_concurrent_processes(self):
        a = self.agent()
        script = 'i=0; while [ $i -lt 300 ]; do echo "$0 line $i"; i=$((i+1)); done; echo "$0" >&2'
        ids = range(1, 65)
        for i in ids:
            a.start(i, ['/bin/sh', '-c', script, 'p%d' % i])
        for i in ids:
            r = a.wait(i)
            self.assertEqual((0, 0), r.exit)
            self.assertEqual(''.join('p%d line %d\n' % (i, n) for n in range(300)).encode(), bytes(r.stdout))
            self.assertEqual(('p%d\n' % i).encode(), bytes(r.stderr))

    def test_the_65th_running_process_is_refused(self):
        a = self.agent()
        for i in range(1, 65):
            a.start(i, ['sleep', '100'])
        for i in range(1, 65):
            a.wait_started(i)
        r = a.run(65, ['/bin/true'])
        self.assertIn('too many', r.error)
        a.send(SIGNAL, 1, bytes([signal.SIGKILL]))
        self.assertEqual((1, signal.SIGKILL), a.wait(1).exit)
        self.assertEqual((0, 0), a.run(66, ['/bin/true']).exit)
        pids = [a.results[i].pid for i in range(2, 65)]
        a.send(SHUTDOWN, 0)
        a.expect_end(0)
        if not PID1:
            self.assertTrue(all(gone(p) for p in pids))

    def test_output_that_looks_like_frames_stays_data(self):
        a = self.agent()
        fake = frame(EXIT, 1, b'\x00\x00') + frame(STARTED, 9, b'\x00\x00\x00\x01') + frame(ERROR, 0, b'x')
        code = 'import sys; sys.stdout.buffer.write(bytes.fromhex(%r)); sys.stdout.flush()' % fake.hex()
        r = a.run(1, [sys.executable, '-c', code])
        self.assertEqual((0, 0), r.exit)
        self.assertEqual(fake, bytes(r.stdout))
        self.assertNotIn(9, a.results)

    def test_end_of_file_kills_every_process(self):
        a = self.agent()
        a.start(1, ['sleep', '1000'])
        a.start(2, ['/bin/sh', '-c', 'sleep 1000 & sleep 1000'])
        pids = [a.wait_started(1).pid, a.wait_started(2).pid]
        a.close_stdin()
        t0 = time.monotonic()
        self.assertIsNone(a.expect_end(0))
        self.assertLess(time.monotonic() - t0, 5)
        if not PID1:
            self.assertTrue(all(gone(p) for p in pids), pids)

    def test_orphans_are_reaped(self):
        a = self.agent()
        r = a.run(1, ['/bin/sh', '-c', '(sleep 0.1 & echo $! ; sleep 0.1 & echo $!); true'])
        orphans = r.stdout.decode().split()
        self.assertEqual(2, len(orphans))
        time.sleep(0.8)
        check = 'for p in "$@"; do [ -e /proc/$p ] && cat /proc/$p/stat; done; true'
        r = a.run(2, ['/bin/sh', '-c', check, 'sh'] + orphans)
        self.assertEqual(b'', bytes(r.stdout))

    @unittest.skipUnless(PID1, 'only the agent as PID 1 sees every process of its namespace')
    def test_no_zombies_in_the_namespace(self):
        a = self.agent()
        for i in range(1, 11):
            a.run(i, ['/bin/sh', '-c', 'sleep 0.05 & sleep 0.05 & exit 3'])
        time.sleep(0.5)
        r = a.run(20, ['/bin/sh', '-c', 'cat /proc/[0-9]*/stat'])
        states = [line.rsplit(')', 1)[1].split()[0] for line in r.stdout.decode().splitlines()]
        self.assertGreaterEqual(len(states), 2)  # at least the agent and the sh running cat
        self.assertNotIn('Z', states)

    @unittest.skipIf(PID1, 'signals to unshare are not signals to the agent')
    def test_forwarded_signal_reaches_the_processes(self):
        a = self.agent()
        a.start(1, ['sleep', '100'])
        a.wait_started(1)
        a.proc.send_signal(signal.SIGTERM)
        self.assertEqual((1, signal.SIGTERM), a.wait(1).exit)
        self.assertEqual((0, 0), a.run(2, ['/bin/true']).exit)


class ViolationTest(unittest.TestCase):
    """A host frame breaking any rule: `error` on stream 0, then the agent exits 2 and its processes die."""

    def violate(self, data, before=()):
        a = Agent(self)
        for pid_id, argv in before:
            a.start(pid_id, argv)
            a.wait_started(pid_id)
        a.send_raw(data)
        text = a.expect_end(2)
        self.assertTrue(text and text.startswith('protocol violation'), text)
        return a, text

    def test_unknown_type(self):
        self.violate(frame(0x09, 0))
        self.violate(frame(READY, 0, b'\x00\x01'))

    def test_length_out_of_range(self):
        self.violate(struct.pack('>I', 5 + MAX_PAYLOAD + 1))  # refused before any payload is sent
        self.violate(struct.pack('>I', 4) + b'\x05\x00\x00\x00')

    def test_bad_start_payloads(self):
        ok = start_payload(['true'])
        for payload in [
            b'\x00',                                         # too short
            struct.pack('>HH', 0, 0) + b'/\0',               # argc 0
            struct.pack('>HH', 4097, 0) + b'/\0',            # argc too large
            struct.pack('>HH', 2, 0) + b'/\0true\0',         # fewer strings than argc
            struct.pack('>HH', 1, 1) + b'/\0true\0',         # fewer strings than envc
            ok + b'x',                                       # bytes after the last string
            ok + b'\0',
            start_payload(['true', '']),                     # empty argument
            start_payload(['true'], cwd=''),                 # empty cwd
            struct.pack('>HH', 1, 1) + b'/\0true\0NOEQUALS\0',
            struct.pack('>HH', 1, 1) + b'/\0true\0=value\0',
        ]:
            with self.subTest(payload=payload):
                self.violate(frame(START, 1, payload))

    def test_bad_ids(self):
        self.violate(frame(START, 0, start_payload(['true'])))
        self.violate(frame(START, 1 << 31, start_payload(['true'])))
        self.violate(frame(STDIN, 7, b'x'))
        self.violate(frame(SIGNAL, 7, b'\x0f'))
        self.violate(frame(STDIN_CLOSE, 0))
        a, _ = self.violate(frame(START, 1, start_payload(['true'])), before=[(1, ['sleep', '100'])])
        if not PID1:
            self.assertTrue(gone(a.results[1].pid))
        self.violate(frame(START, 2, start_payload(['true'])), before=[(5, ['sleep', '100'])])

    def test_bad_payloads_for_a_running_process(self):
        sleeper = [(1, ['sleep', '100'])]
        self.violate(frame(STDIN, 1), before=sleeper)
        self.violate(frame(SIGNAL, 1, b'\x00'), before=sleeper)
        self.violate(frame(SIGNAL, 1, b'\x41'), before=sleeper)
        self.violate(frame(SIGNAL, 1, b'\x0f\x0f'), before=sleeper)
        self.violate(frame(STDIN_CLOSE, 1, b'x'), before=sleeper)
        self.violate(frame(STDIN_CLOSE, 1) + frame(STDIN_CLOSE, 1), before=sleeper)
        self.violate(frame(STDIN_CLOSE, 1) + frame(STDIN, 1, b'x'), before=sleeper)
        self.violate(frame(SHUTDOWN, 1))
        self.violate(frame(SHUTDOWN, 0, b'x'))


if __name__ == '__main__':
    if not os.access(BIN, os.X_OK):
        sys.exit('build the agent first: make -C agent')
    unittest.main(verbosity=2)
