#!/usr/bin/env python3
"""Protocol tests for the built agent (docs/agent-protocol.md), driven as a plain child process.

The harness plays the host: it writes frames to the agent's stdin and checks every frame the agent writes
against the protocol's size and order rules before a test sees it. With AGENT_PID1=1 (as root) every agent
runs as PID 1 of a new pid namespace (unshare --pid --fork --mount-proc).
"""
import os
import select
import signal
import socket
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
PROTOCOL_VERSION = 3
START, STDIN, STDIN_CLOSE, SIGNAL, SHUTDOWN = 0x01, 0x02, 0x03, 0x04, 0x05
READY, STARTED, STDOUT, STDERR, EXIT, ERROR = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86
FILE_WRITE, FILE_CHUNK, FILE_END, FILE_ABORT, FILE_READ, FILE_LIST, FILE_DELETE = range(0x06, 0x0d)
FILE_DATA, FILE_ENTRY, FILE_DONE = 0x87, 0x88, 0x89
STDIN_TAKEN = 0x8a
NET_LISTEN, CONN_DATA, CONN_EOF, CONN_CLOSE, CONN_ACK = range(0x0d, 0x12)
NET_STATUS, CONN_OPEN, CONN_DATA_IN, CONN_EOF_IN, CONN_CLOSED, CONN_ACK_IN = range(0x8b, 0x91)
NET_FRAMES = range(0x8b, 0x91)
CONN_BIT = 0x80000000
KIND_FILE, KIND_DIR, KIND_LINK, KIND_OTHER = range(4)
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
        self.taken = 0        # stdin_taken frames: stdin frames written (or dropped) by the agent

    @property
    def done(self):
        return self.exit is not None or self.error is not None


class FileResult:
    def __init__(self, op, limit):
        self.op = op          # 'write' | 'read' | 'list' | 'delete'
        self.limit = limit    # maxBytes or maxEntries
        self.data = bytearray()
        self.entries = []     # (kind, size, mtime, name bytes)
        self.status = None    # 0 ok, 2 truncated
        self.error = None     # the text of status 1

    @property
    def done(self):
        return self.status is not None or self.error is not None


class Conn:
    """One relayed connection as the host sees it."""

    def __init__(self, cid):
        self.id = cid
        self.data = bytearray()   # what the sandbox side sent
        self.eof = False          # the agent's conn_eof
        self.closed = False       # the agent's conn_closed
        self.dropped = False      # the host sent conn_close
        self.unacked = False      # the agent's conn_data the host has not acknowledged
        self.sent = False         # the host's conn_data the agent has not acknowledged
        self.host_eof = False
        self.acks = 0


def path_bytes(path):
    return (path if isinstance(path, bytes) else path.encode()) + b'\0'


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
        self.listen_status = None   # (status, reason) from net_status
        self.listen_sent = False
        self.conns = {}             # id -> Conn
        self.last_conn = CONN_BIT
        self.auto_ack = True        # acknowledge every conn_data as it is read
        self.raw_conn_data = False  # a test sends conn_data by hand, not counting the acks
        ftype, stream, payload = self.frame()
        assert ftype == READY and stream == 0, (ftype, stream)
        assert struct.unpack('>H', payload[:2])[0] == PROTOCOL_VERSION and 0 < len(payload) - 2 <= 64
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
        if ftype in NET_FRAMES:
            self.check_net(ftype, stream, payload)
            return
        state = self.state.get(stream)
        if ftype in (FILE_DATA, FILE_ENTRY, FILE_DONE):
            self.check_file(ftype, stream, payload, state)
            return
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
        elif ftype == STDIN_TAKEN:
            assert state == 'running' and payload == b'', (state, payload)
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
        elif ftype == STDIN_TAKEN:
            r.taken += 1
        else:
            self.state[stream] = 'dead'
            r.error = payload.decode()

    def check_file(self, ftype, stream, payload, state):
        assert self.seen_ready and state == 'file', (ftype, stream, state)
        r = self.results[stream]
        if ftype == FILE_DATA:
            assert r.op == 'read' and 1 <= len(payload) <= MAX_PAYLOAD, (r.op, len(payload))
            r.data += payload
            assert len(r.data) <= r.limit
        elif ftype == FILE_ENTRY:
            assert r.op == 'list' and 18 <= len(payload) <= 17 + 255
            kind, size, mtime = struct.unpack('>BQq', payload[:17])
            name = payload[17:]
            assert kind <= KIND_OTHER and b'/' not in name and b'\0' not in name and name not in (b'.', b'..')
            r.entries.append((kind, size, mtime, name))
            assert len(r.entries) <= r.limit
        else:
            status = payload[0]
            if status == 1:
                assert 1 <= len(payload) - 1 <= 1024
                r.error = payload[1:].decode()
            else:
                assert len(payload) == 1 and status in (0, 2), payload
                assert status == 0 or (r.op == 'read' and len(r.data) == r.limit) \
                    or (r.op == 'list' and len(r.entries) == r.limit)
                r.status = status
            self.state[stream] = 'dead'

    def check_net(self, ftype, stream, payload):
        assert self.seen_ready, 'ready comes first'
        if ftype == NET_STATUS:
            assert stream == 0 and self.listen_sent and self.listen_status is None, (stream, self.listen_status)
            assert payload[0] in (0, 1) and (len(payload) == 1) == (payload[0] == 0), payload
            assert len(payload) <= 1 + 1024
            self.listen_status = (payload[0], payload[1:].decode())
            return
        if ftype == CONN_OPEN:
            assert self.listen_status == (0, '') and payload == b''
            assert stream & CONN_BIT and stream > self.last_conn, hex(stream)
            assert sum(1 for c in self.conns.values() if not c.closed and not c.dropped) < 64
            self.last_conn = stream
            self.conns[stream] = Conn(stream)
            return
        c = self.conns.get(stream)
        assert c is not None and not c.closed, ('frame for a connection never opened or closed', ftype, stream)
        if c.dropped:
            return  # sent before the agent read our conn_close
        if ftype == CONN_DATA_IN:
            assert 1 <= len(payload) <= MAX_PAYLOAD and not c.unacked and not c.eof, (len(payload), c.unacked)
            c.data += payload
            c.unacked = True
            if self.auto_ack:
                self.conn_ack(c.id)
        elif ftype == CONN_EOF_IN:
            assert payload == b'' and not c.eof
            c.eof = True
        elif ftype == CONN_ACK_IN:
            assert payload == b'' and (c.sent or self.raw_conn_data), 'conn_ack with nothing outstanding'
            c.sent = False
            c.acks += 1
        else:
            assert ftype == CONN_CLOSED and payload == b''
            c.closed = True

    # -- connections --
    def listen(self, port):
        self.listen_sent = True
        self.send(NET_LISTEN, 0, struct.pack('>H', port))
        self.until(lambda: self.listen_status is not None)
        return self.listen_status

    def conn_ack(self, cid):
        self.conns[cid].unacked = False
        self.send(CONN_ACK, cid)

    def conn_send(self, cid, data):
        """Sends data in conn_data frames, each after the agent's conn_ack of the one before."""
        c = self.conns[cid]
        for i in range(0, len(data), MAX_PAYLOAD):
            self.until(lambda: not c.sent or c.closed)
            assert not c.closed
            c.sent = True
            self.send(CONN_DATA, cid, data[i:i + MAX_PAYLOAD])

    def conn_eof(self, cid):
        self.conns[cid].host_eof = True
        self.send(CONN_EOF, cid)

    def conn_close(self, cid):
        self.conns[cid].dropped = True
        self.send(CONN_CLOSE, cid)

    def accepted(self, n=1):
        """Waits until n more connections are open; returns the newest one's id."""
        want = len(self.conns) + n
        self.until(lambda: len(self.conns) >= want)
        return self.last_conn

    # -- file operations --
    def file_op(self, ftype, fid, op, payload, limit=None):
        self.state[fid] = 'file'
        self.results[fid] = FileResult(op, limit)
        self.send(ftype, fid, payload)
        return self.results[fid]

    def begin_write(self, fid, path, mode=0o644):
        return self.file_op(FILE_WRITE, fid, 'write', struct.pack('>I', mode) + path_bytes(path))

    def write_file(self, fid, path, data, mode=0o644):
        self.begin_write(fid, path, mode)
        for i in range(0, len(data), MAX_PAYLOAD):
            self.send(FILE_CHUNK, fid, data[i:i + MAX_PAYLOAD])
        self.send(FILE_END, fid)
        return self.wait(fid)

    def read_file(self, fid, path, max_bytes=1 << 30):
        self.file_op(FILE_READ, fid, 'read', struct.pack('>Q', max_bytes) + path_bytes(path), max_bytes)
        return self.wait(fid)

    def list_dir(self, fid, path, max_entries=1 << 20):
        self.file_op(FILE_LIST, fid, 'list', struct.pack('>I', max_entries) + path_bytes(path), max_entries)
        return self.wait(fid, timeout=60)

    def delete(self, fid, path):
        self.file_op(FILE_DELETE, fid, 'delete', path_bytes(path))
        return self.wait(fid)

    def until(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate():
            f = self.frame(max(0.01, deadline - time.monotonic()))
            assert f is not None, 'the agent ended early'
            assert not (f[0] == ERROR and f[1] == 0), 'agent error: %r' % (f[2],)

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

    def test_each_stdin_frame_is_acknowledged_once_written(self):
        a = self.agent()
        a.start(1, ['/bin/sh', '-c', 'read a; echo "1 $a"; read b; echo "2 $b"'])
        a.wait_started(1)
        a.send(STDIN, 1, b'x\n')
        a.until(lambda: a.results[1].taken == 1)
        a.send(STDIN, 1, b'y\n')
        a.until(lambda: a.results[1].taken == 2)
        a.send(STDIN_CLOSE, 1)
        r = a.wait(1)
        self.assertEqual(b'1 x\n2 y\n', bytes(r.stdout))
        self.assertEqual(2, r.taken)

    def test_a_host_that_waits_for_stdin_taken_never_stalls_the_channel(self):
        a = self.agent()
        a.start(1, ['sleep', '100'])  # never reads its stdin
        a.wait_started(1)
        a.send(STDIN, 1, os.urandom(MAX_PAYLOAD))  # fits the pipe: taken at once
        a.until(lambda: a.results[1].taken == 1)
        a.send(STDIN, 1, os.urandom(MAX_PAYLOAD))  # stays pending: no taken, and the host sends no more
        time.sleep(0.3)
        self.assertEqual(1, a.results[1].taken)
        # The channel still moves: a new process runs, and a signal reaches the one that does not read.
        self.assertEqual(b'ok\n', bytes(a.run(2, ['echo', 'ok']).stdout))
        a.send(SIGNAL, 1, bytes([signal.SIGKILL]))
        self.assertEqual((1, signal.SIGKILL), a.wait(1, timeout=10).exit)

    def test_stdin_to_a_process_that_closed_its_stdin_is_acknowledged_as_dropped(self):
        a = self.agent()
        a.start(1, ['/bin/sh', '-c', 'exec 0<&-; sleep 0.5; echo done'])
        a.wait_started(1)
        time.sleep(0.2)
        a.send(STDIN, 1, b'nobody reads this\n')
        a.until(lambda: a.results[1].taken == 1)
        a.send(STDIN_CLOSE, 1)
        r = a.wait(1)
        self.assertEqual(b'done\n', bytes(r.stdout))

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


class FileTest(unittest.TestCase):
    """File operations: paths resolved without following any link, regular files only, binary-safe."""

    def setUp(self):
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix='agent-files-'))
        self.addCleanup(subprocess.run, ['rm', '-rf', self.dir])
        self.a = Agent(self)

    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    def put(self, name, data=b'old'):
        with open(self.p(name), 'wb') as f:
            f.write(data)

    def get(self, name):
        with open(self.p(name), 'rb') as f:
            return f.read()

    def test_binary_round_trip_of_3_mib_with_nuls_and_its_mode(self):
        data = os.urandom(3 << 20) + b'\0\0end\0'
        r = self.a.write_file(1, self.p('f.bin'), data, mode=0o640)
        self.assertEqual(0, r.status, r.error)
        self.assertEqual(data, self.get('f.bin'))
        self.assertEqual(0o640, os.stat(self.p('f.bin')).st_mode & 0o7777)
        self.assertEqual(['f.bin'], os.listdir(self.dir))  # no temporary file left
        r = self.a.read_file(2, self.p('f.bin'))
        self.assertEqual((0, data), (r.status, bytes(r.data)))
        r = self.a.write_file(3, self.p('empty'), b'')
        self.assertEqual((0, b''), (r.status, self.get('empty')))
        self.assertEqual((0, b''), (self.a.read_file(4, self.p('empty')).status, b''))

    def test_a_read_is_bounded_by_max_bytes(self):
        self.put('f', b'0123456789')
        r = self.a.read_file(1, self.p('f'), 4)
        self.assertEqual((2, b'0123'), (r.status, bytes(r.data)))
        r = self.a.read_file(2, self.p('f'), 10)
        self.assertEqual((0, b'0123456789'), (r.status, bytes(r.data)))
        big = os.urandom(MAX_PAYLOAD + 5)
        self.put('big', big)
        r = self.a.read_file(3, self.p('big'), MAX_PAYLOAD + 1)
        self.assertEqual((2, big[:MAX_PAYLOAD + 1]), (r.status, bytes(r.data)))

    def test_a_symbolic_link_in_the_middle_is_refused(self):
        os.mkdir(self.p('real'))
        os.symlink(self.p('real'), self.p('link'))
        self.put('real/f', b'secret')
        for r in (self.a.write_file(1, self.p('link', 'f'), b'new'), self.a.read_file(2, self.p('link', 'f')),
                  self.a.list_dir(3, self.p('link', 'x')), self.a.delete(4, self.p('link', 'f'))):
            self.assertIn(self.p('link') + ' is a symbolic link', r.error)
        self.assertEqual(b'secret', self.get('real/f'))
        os.symlink('real', self.p('rel'))  # relative links too
        self.assertIn('is a symbolic link', self.a.read_file(5, self.p('rel', 'f')).error)

    def test_a_symbolic_link_at_the_end_is_refused_and_deleting_it_keeps_the_target(self):
        self.put('target', b'keep')
        os.symlink(self.p('target'), self.p('link'))
        r = self.a.read_file(1, self.p('link'))
        self.assertIn('is a symbolic link', r.error)
        self.assertEqual(b'', bytes(r.data))
        self.assertIn('is a symbolic link', self.a.write_file(2, self.p('link'), b'new').error)
        self.assertIn('a symbolic link, not a directory', self.a.list_dir(3, self.p('link')).error)
        self.assertEqual(b'keep', self.get('target'))
        self.assertEqual(0, self.a.delete(4, self.p('link')).status)
        self.assertFalse(os.path.lexists(self.p('link')))
        self.assertEqual(b'keep', self.get('target'))

    def test_an_absolute_link_to_outside_is_not_followed(self):
        os.symlink('/etc', self.p('etc'))
        self.assertIn('is a symbolic link', self.a.read_file(1, self.p('etc', 'passwd')).error)
        self.assertIn('is a symbolic link', self.a.write_file(2, self.p('etc', 'agent-test'), b'x').error)
        self.assertFalse(os.path.exists('/etc/agent-test'))

    def test_a_fifo_never_blocks_the_agent(self):
        os.mkfifo(self.p('fifo'))
        t0 = time.monotonic()
        self.assertIn('is a FIFO', self.a.read_file(1, self.p('fifo')).error)
        self.assertIn('is a FIFO', self.a.write_file(2, self.p('fifo'), b'x').error)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(b'ok\n', bytes(self.a.run(3, ['echo', 'ok']).stdout))

    def test_devices_and_sockets_are_not_regular_files(self):
        self.assertIn('is a character device', self.a.read_file(1, '/dev/zero').error)
        import socket
        s = socket.socket(socket.AF_UNIX)
        self.addCleanup(s.close)
        s.bind(self.p('sock'))
        self.assertIn('is a socket', self.a.read_file(2, self.p('sock')).error)

    def test_a_write_to_a_hard_link_replaces_it_and_never_writes_through(self):
        self.put('orig', b'original')
        os.link(self.p('orig'), self.p('hard'))
        self.assertEqual(b'original', bytes(self.a.read_file(1, self.p('hard')).data))
        self.assertEqual(0, self.a.write_file(2, self.p('hard'), b'new').status)
        self.assertEqual((b'original', b'new'), (self.get('orig'), self.get('hard')))

    def test_directories(self):
        os.makedirs(self.p('d', 'sub'))
        self.assertIn('is a directory', self.a.read_file(1, self.p('d')).error)
        self.assertIn('is a directory', self.a.write_file(2, self.p('d'), b'x').error)
        self.assertIn('not empty', self.a.delete(3, self.p('d')).error)
        self.assertEqual(0, self.a.delete(4, self.p('d', 'sub')).status)
        self.assertEqual(0, self.a.delete(5, self.p('d')).status)
        self.assertIn('does not exist', self.a.delete(6, self.p('d')).error)
        self.put('f')
        self.assertIn(self.p('f') + ' is a regular file, not a directory', self.a.read_file(7, self.p('f', 'x')).error)
        self.assertIn('is a directory', self.a.read_file(8, '/').error)

    def test_a_missing_parent_is_not_created_and_later_chunks_are_ignored(self):
        r = self.a.begin_write(1, self.p('missing', 'f'))
        self.a.wait(1)  # the error comes at once, before any chunk
        self.assertIn(self.p('missing') + ' does not exist', r.error)
        self.a.send(FILE_CHUNK, 1, b'late')
        self.a.send(FILE_END, 1)
        self.a.send(FILE_ABORT, 1)
        self.assertFalse(os.path.exists(self.p('missing')))
        self.assertEqual(0, self.a.write_file(2, self.p('f'), b'fine').status)

    def test_make_parents_makes_missing_directories_but_never_through_a_link(self):
        r = self.a.write_file(1, self.p('made', 'by', 'the', 'agent.txt'), b'deep', mode=0o644 | 0x10000)
        self.assertEqual(0, r.status, r.error)
        with open(self.p('made', 'by', 'the', 'agent.txt'), 'rb') as f:
            self.assertEqual(b'deep', f.read())
        self.assertEqual(0o755, os.stat(self.p('made', 'by')).st_mode & 0o777)
        outside = os.path.realpath(tempfile.mkdtemp(prefix='agent-outside-'))
        self.addCleanup(subprocess.run, ['rm', '-rf', outside])
        os.symlink(outside, self.p('link'))
        os.symlink(os.path.join(outside, 'dangling'), self.p('dangling'))
        for fid, parts in [(2, ('link', 'sub', 'f')), (3, ('dangling', 'f')), (4, ('dangling', 'sub', 'f'))]:
            r = self.a.write_file(fid, self.p(*parts), b'x', mode=0o644 | 0x10000)
            self.assertIsNone(r.status)
            self.assertIn('symbolic link', r.error)
        self.assertEqual([], os.listdir(outside), 'nothing was made through a link')

    def test_an_aborted_write_keeps_the_old_file(self):
        self.put('f', b'old')
        self.a.begin_write(1, self.p('f'))
        self.a.send(FILE_CHUNK, 1, b'half of the new')
        self.a.send(FILE_ABORT, 1)
        self.assertIn('aborted', self.a.wait(1).error)
        self.assertEqual(b'old', self.get('f'))
        self.assertEqual(['f'], os.listdir(self.dir))

    def test_at_most_8_writes_are_open(self):
        for i in range(1, 9):
            self.a.begin_write(i, self.p('f%d' % i))
        self.a.begin_write(9, self.p('f9'))
        self.assertIn('too many', self.a.wait(9).error)
        for i in range(1, 9):
            self.a.send(FILE_CHUNK, i, b'%d' % i)
            self.a.send(FILE_END, i)
        self.a.wait(*range(1, 9))
        self.assertEqual([b'%d' % i for i in range(1, 9)], [self.get('f%d' % i) for i in range(1, 9)])

    def test_a_directory_swapped_for_a_link_during_a_write_is_not_followed(self):
        os.mkdir(self.p('sub'))
        outside = tempfile.mkdtemp(prefix='agent-outside-')
        self.addCleanup(subprocess.run, ['rm', '-rf', outside])
        self.a.begin_write(1, self.p('sub', 'f'))
        self.a.send(FILE_CHUNK, 1, b'first ')
        self.assertEqual(b'ok\n', bytes(self.a.run(2, ['echo', 'ok']).stdout))  # the chunk is written
        os.rename(self.p('sub'), self.p('moved'))
        os.symlink(outside, self.p('sub'))
        self.a.send(FILE_CHUNK, 1, b'second')
        self.a.send(FILE_END, 1)
        self.assertEqual(0, self.a.wait(1).status)
        self.assertEqual([], os.listdir(outside))
        self.assertEqual(b'first second', self.get('moved/f'))

    def test_a_target_swapped_for_a_link_during_a_write_is_replaced_not_followed(self):
        self.put('victim', b'keep')
        self.a.begin_write(1, self.p('f'))
        self.a.send(FILE_CHUNK, 1, b'data')
        self.assertEqual(b'ok\n', bytes(self.a.run(2, ['echo', 'ok']).stdout))
        os.symlink(self.p('victim'), self.p('f'))
        self.a.send(FILE_END, 1)
        self.assertIn('is a symbolic link', self.a.wait(1).error)
        self.assertEqual(b'keep', self.get('victim'))
        self.assertTrue(os.path.islink(self.p('f')))

    def test_listing_kinds_sizes_and_names(self):
        self.put('file', b'12345')
        os.mkdir(self.p('dir'))
        os.symlink('/nowhere', self.p('link'))
        os.mkfifo(self.p('fifo'))
        self.put('we\u0301ird \n name')
        os.utime(self.p('file'), (1000, 1234567890))
        r = self.a.list_dir(1, self.dir)
        self.assertEqual(0, r.status)
        got = {e[3]: e for e in r.entries}
        self.assertEqual({b'file', b'dir', b'link', b'fifo', 'we\u0301ird \n name'.encode()}, set(got))
        self.assertEqual((KIND_FILE, 5, 1234567890), got[b'file'][:3])
        self.assertEqual(KIND_DIR, got[b'dir'][0])
        self.assertEqual((KIND_LINK, len('/nowhere')), got[b'link'][:2])
        self.assertEqual(KIND_OTHER, got[b'fifo'][0])
        self.assertEqual(0, self.a.list_dir(2, '/').status)
        self.assertIn('is a regular file, not a directory', self.a.list_dir(3, self.p('file')).error)

    def test_a_100k_file_directory_is_listed_within_max_entries(self):
        big = self.p('big')
        os.mkdir(big)
        for i in range(100000):
            os.close(os.open(os.path.join(big, 'f%06d' % i), os.O_CREAT | os.O_WRONLY, 0o644))
        t0 = time.monotonic()
        r = self.a.list_dir(1, big, 1000)
        self.assertEqual((2, 1000), (r.status, len(r.entries)))
        self.assertLess(time.monotonic() - t0, 5)
        r = self.a.list_dir(2, big, 100000)
        self.assertEqual((0, 100000), (r.status, len(r.entries)))
        self.assertEqual({'f%06d' % i for i in range(100000)}, {e[3].decode() for e in r.entries})
        r = self.a.list_dir(3, big, 99999)
        self.assertEqual((2, 99999), (r.status, len(r.entries)))

    def test_error_texts_are_utf8_even_for_names_that_are_not(self):
        name = os.path.join(self.dir.encode(), b'bad\xff\xfe')
        os.mkdir(name)
        os.symlink('/', os.path.join(name, b'l'))
        r = self.a.read_file(1, os.path.join(name, b'l', b'x'))
        self.assertIn('bad??/l is a symbolic link', r.error)  # and check_file decoded it as UTF-8
        r = self.a.list_dir(2, self.dir)
        self.assertEqual([b'bad\xff\xfe'], [e[3] for e in r.entries])

    def test_file_operations_and_processes_share_the_ids(self):
        self.a.start(1, ['sleep', '0.2'])
        self.put('f', b'x')
        self.assertEqual(b'x', bytes(self.a.read_file(2, self.p('f')).data))
        self.assertEqual((0, 0), self.a.run(3, ['/bin/true']).exit)
        self.a.send(STDIN, 2, b'to a file id: ignored')
        self.assertEqual((0, 0), self.a.wait(1).exit)


class ViolationTest(unittest.TestCase):
    """A host frame breaking any rule: `error` on stream 0, then the agent exits 2 and its processes die."""

    def violate(self, data, before=(), files=()):
        a = Agent(self)
        for fid in files:  # file operations whose file_done may come before the violation
            a.state[fid] = 'file'
            a.results[fid] = FileResult('delete', None)
        for pid_id, argv in before:
            a.start(pid_id, argv)
            a.wait_started(pid_id)
        a.send_raw(data)
        text = a.expect_end(2)
        self.assertTrue(text and text.startswith('protocol violation'), text)
        return a, text

    def test_unknown_type(self):
        self.violate(frame(0x12, 0))
        self.violate(frame(0x7f, 0))
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

    def test_bad_file_frames(self):
        read = lambda path, n=1: struct.pack('>Q', n) + path
        for f in [
            frame(FILE_READ, 1, read(b'/etc/passwd')),                 # no NUL
            frame(FILE_READ, 1, read(b'/etc\0passwd\0')),              # a NUL inside
            frame(FILE_READ, 1, read(b'etc/passwd\0')),                # relative
            frame(FILE_READ, 1, read(b'/etc/../etc/passwd\0')),        # ..
            frame(FILE_READ, 1, read(b'/etc/./passwd\0')),             # .
            frame(FILE_READ, 1, read(b'/etc//passwd\0')),              # empty component
            frame(FILE_READ, 1, read(b'/etc/\0')),                     # trailing slash
            frame(FILE_READ, 1, read(b'/' + b'a' * 4096 + b'\0')),     # longer than 4096 bytes
            frame(FILE_READ, 1, read(b'/etc/passwd\0', 0)),            # maxBytes 0
            frame(FILE_READ, 1, read(b'/etc/passwd\0', 1 << 63)),      # maxBytes above 2^63-1
            frame(FILE_READ, 1, b'\0' * 7),                            # too short
            frame(FILE_LIST, 1, struct.pack('>I', 0) + b'/\0'),        # maxEntries 0
            frame(FILE_WRITE, 1, struct.pack('>I', 0o4755) + b'/tmp/x\0'),  # beyond the permission bits
            frame(FILE_DELETE, 1, b'/tmp/x\0\0'),
            frame(FILE_DELETE, 0, b'/tmp/x\0'),                         # id 0
            frame(FILE_CHUNK, 1, b'x'),                                 # an id never used
            frame(FILE_END, 3),
            frame(FILE_ABORT, 3),
        ]:
            with self.subTest(frame=f[:40]):
                self.violate(f)
        gone_file = frame(FILE_DELETE, 2, b'/nonexistent\0')
        self.violate(gone_file + gone_file, files=[2])                             # an id that is not new
        self.violate(gone_file + frame(START, 1, start_payload(['true'])), files=[2])
        self.violate(frame(FILE_CHUNK, 3, b'x'), files=[2], before=[(1, ['sleep', '100'])])
        part = '/tmp/.mcp-agent-1.part'
        write = frame(FILE_WRITE, 1, struct.pack('>I', 0o644) + b'/tmp/agent-violation-test\0')
        self.violate(write + frame(FILE_CHUNK, 1), files=[1])                     # an empty chunk
        self.assertFalse(os.path.exists(part))                                    # removed as the agent ends
        self.violate(write + frame(FILE_END, 1, b'x'), files=[1])


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def client(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(20)
    s.connect(('127.0.0.1', port))
    return s


def recv_all(s):
    out = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            return bytes(out)
        out += b


class NetTest(unittest.TestCase):
    """The TCP relay: net_listen, then every connection to 127.0.0.1:port in frames, one in flight each way."""

    def listening(self):
        a = Agent(self)
        port = free_port()
        self.assertEqual((0, ''), a.listen(port))
        return a, port

    def connect(self, a, port, **kw):
        s = client(port, **kw)
        self.addCleanup(s.close)
        return s, a.accepted()

    def test_echo_both_ways_with_half_close_each_way(self):
        a, port = self.listening()
        s, cid = self.connect(a, port)
        self.assertEqual(CONN_BIT + 1, cid)
        s.sendall(b'hello host')
        a.until(lambda: bytes(a.conns[cid].data) == b'hello host')
        a.conn_send(cid, b'hello sandbox')
        self.assertEqual(b'hello sandbox', s.recv(100))
        s.shutdown(socket.SHUT_WR)                    # the sandbox is done sending: conn_eof
        a.until(lambda: a.conns[cid].eof)
        data = os.urandom(3 * MAX_PAYLOAD + 17)       # the host still sends
        a.conn_send(cid, data)
        a.conn_eof(cid)                               # then ends too: SHUT_WR once written, then conn_closed
        got = recv_all(s)
        self.assertEqual(data, got)
        a.until(lambda: a.conns[cid].closed)
        self.assertFalse(a.conns[cid].unacked)

    def test_host_half_close_first_then_the_sandbox_still_sends(self):
        a, port = self.listening()
        s, cid = self.connect(a, port)
        a.conn_eof(cid)
        self.assertEqual(b'', s.recv(10))             # EOF toward the sandbox
        data = os.urandom(2 * 1024 * 1024)
        threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)), daemon=True).start()
        a.until(lambda: a.conns[cid].closed)
        self.assertEqual(data, bytes(a.conns[cid].data))
        self.assertTrue(a.conns[cid].eof)

    def test_the_socket_is_not_read_until_the_host_acknowledges(self):
        a, port = self.listening()
        a.auto_ack = False
        s, cid = self.connect(a, port)
        s.sendall(b'x' * 100000)
        a.until(lambda: a.conns[cid].unacked)
        time.sleep(0.3)
        got = len(a.conns[cid].data)
        a.until(lambda: True)
        self.assertLessEqual(got, MAX_PAYLOAD)
        while a.conns[cid].unacked:                   # no second conn_data while one is unacknowledged
            try:
                f = a.frame(0.3)
            except TimeoutError:
                break
            self.assertIsNotNone(f)
        self.assertEqual(got, len(a.conns[cid].data))
        a.auto_ack = True
        a.conn_ack(cid)
        a.until(lambda: len(a.conns[cid].data) == 100000)

    def test_host_conn_close_drops_the_socket_and_says_nothing(self):
        a, port = self.listening()
        s, cid = self.connect(a, port)
        a.conn_close(cid)
        s.settimeout(5)
        try:
            self.assertEqual(b'', s.recv(10))
        except ConnectionResetError:
            pass
        r = a.run(1, ['true'])                         # the channel goes on; no frame for the dead id came
        self.assertEqual((0, 0), r.exit)
        self.assertFalse(a.conns[cid].closed)

    def test_a_reset_from_the_sandbox_closes_the_connection(self):
        a, port = self.listening()
        s, cid = self.connect(a, port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.close()
        a.until(lambda: a.conns[cid].closed)
        self.assertFalse(a.conns[cid].eof)

    def test_at_most_64_connections_then_the_backlog_waits(self):
        a, port = self.listening()
        socks = [client(port) for _ in range(65)]
        for s in socks:
            self.addCleanup(s.close)
        a.until(lambda: len(a.conns) == 64)
        with self.assertRaises(TimeoutError):
            a.until(lambda: len(a.conns) > 64, timeout=0.5)
        a.conn_close(CONN_BIT + 1)
        a.until(lambda: len(a.conns) == 65)
        self.assertEqual(CONN_BIT + 65, a.last_conn)

    def test_the_port_is_taken_while_the_agent_listens(self):
        a, port = self.listening()
        with socket.socket() as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with self.assertRaises(OSError):
                other.bind(('127.0.0.1', port))

    def test_a_taken_port_is_net_status_error(self):
        with socket.socket() as taken:
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            a = Agent(self)
            status, reason = a.listen(taken.getsockname()[1])
        self.assertEqual(1, status)
        self.assertIn('Address in use', reason)
        self.assertEqual((0, 0), a.run(1, ['true']).exit)

    def test_processes_inherit_neither_the_listener_nor_a_connection(self):
        a, port = self.listening()
        self.connect(a, port)
        r = a.run(1, ['ls', '/proc/self/fd'])
        self.assertEqual(['0', '1', '2', '3'], sorted(r.stdout.decode().split()))  # 3: ls's own directory

    def test_channel_end_of_file_closes_the_connections_and_the_listener(self):
        a, port = self.listening()
        s, cid = self.connect(a, port)
        a.close_stdin()
        self.assertIsNone(a.expect_end(0))
        s.settimeout(5)
        try:
            self.assertEqual(b'', s.recv(10))
        except ConnectionResetError:
            pass
        with self.assertRaises(ConnectionRefusedError):
            client(port).close()

    def test_hostile_connection_frames_are_violations(self):
        def violate(data, connected=True):
            a, port = self.listening()
            if connected:
                self.connect(a, port)
            try:
                a.send_raw(data)
            except BrokenPipeError:
                pass
            text = a.expect_end(2)
            self.assertTrue(text and text.startswith('protocol violation'), text)
        first = CONN_BIT + 1
        for f in [
            frame(CONN_DATA, first, b'x'),            # before any conn_open
            frame(CONN_ACK, first),
        ]:
            with self.subTest(frame=f[:12]):
                violate(f, connected=False)
        for f in [
            frame(CONN_DATA, 1, b'x'),                # no top bit: not a connection
            frame(CONN_DATA, CONN_BIT, b'x'),         # the top bit alone is no id
            frame(CONN_DATA, first + 1, b'x'),        # above the last conn_open
            frame(CONN_CLOSE, 0xffffffff),
            frame(CONN_DATA, first),                  # empty
            frame(CONN_EOF, first, b'x'),             # payloads where none belongs
            frame(CONN_CLOSE, first, b'x'),
            frame(CONN_ACK, first, b'x'),
            frame(CONN_ACK, first),                   # nothing outstanding
            frame(CONN_EOF, first) + frame(CONN_EOF, first),
            frame(CONN_EOF, first) + frame(CONN_DATA, first, b'x'),
            frame(NET_LISTEN, 0, struct.pack('>H', free_port())),   # a second net_listen
            frame(STDIN, first, b'x'),                # a connection id is no process
        ]:
            with self.subTest(frame=f[:12]):
                violate(f)
        # A second conn_data before the agent's conn_ack: the sandbox side does not read, so the first stays
        # pending once the socket's buffers are full.
        a, port = self.listening()
        s, cid = self.connect(a, port, rcvbuf=4096)
        a.raw_conn_data = True
        try:
            a.send_raw(frame(CONN_DATA, cid, b'y' * MAX_PAYLOAD) * 400)
        except BrokenPipeError:
            pass
        self.assertIn('before the agent', a.expect_end(2))

    def test_bad_net_listen_frames_are_violations(self):
        for f in [
            frame(NET_LISTEN, 0, b'\x00\x00'),       # port 0
            frame(NET_LISTEN, 0, b'\x01'),            # too short
            frame(NET_LISTEN, 0, b'\x01\x02\x03'),
            frame(NET_LISTEN, 5, struct.pack('>H', 3128)),
        ]:
            with self.subTest(frame=f):
                a = Agent(self)
                a.send_raw(f)
                self.assertTrue(a.expect_end(2).startswith('protocol violation'))
        a = Agent(self)                               # a second one even after a failure
        with socket.socket() as taken:
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            self.assertEqual(1, a.listen(taken.getsockname()[1])[0])
        a.send(NET_LISTEN, 0, struct.pack('>H', free_port()))
        self.assertTrue(a.expect_end(2).startswith('protocol violation'))


if __name__ == '__main__':
    if not os.access(BIN, os.X_OK):
        sys.exit('build the agent first: make -C agent')
    unittest.main(verbosity=2)
