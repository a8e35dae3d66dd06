# "The internet" for tests: HTTP on :80 and HTTPS on :443 at one address inside a network namespace the test
# made (io.mcpsandbox.testing.TestInternet starts it with `ip netns exec`). It serves a directory the test fills
# and two generated paths:
#   /bytes/<n>      200 with n bytes (byte i is i % 256), n <= 2^31
#   /echo-headers   200 with the request as JSON: {"method", "path", "sni", "headers": [[name, value], ...]}
#   /echo           200 with the request's body (Content-Length bodies only)
# Every request is logged (requests.jsonl) with its exact head and body and the plain bytes taken and written for
# it; every connection (connections.jsonl, when it closes) with the bytes on the wire both ways: for HTTPS these are
# the TLS records, counted under the TLS layer (ssl.MemoryBIO), which is what a relay in front of it counts.
import base64, http.server, io, json, mimetypes, os, posixpath, socket, ssl, sys, threading, urllib.parse

docroot, cert, key, log_dir, ready_file, address = sys.argv[1:7]
lock = threading.Lock()
connection_ids = iter(range(1, 1 << 62))
MAX_LOGGED_BODY = 1 << 20
MAX_BODY = 64 << 20


def log(name, record):
    with lock:
        with open(os.path.join(log_dir, name), 'a') as f:
            f.write(json.dumps(record) + '\n')


class PlainStream:
    """The raw socket, counting the bytes on the wire."""

    def __init__(self, sock):
        self.sock = sock
        self.received = 0
        self.sent = 0

    def recv_into(self, buffer):
        n = self.sock.recv_into(buffer)
        self.received += n
        return n

    def sendall(self, data):
        self.sock.sendall(data)
        self.sent += len(data)

    def close(self):
        pass


class TlsStream:
    """TLS over the raw socket through memory BIOs, so that the TLS records on the wire are counted too."""

    def __init__(self, sock, context):
        self.sock = sock
        self.received = 0
        self.sent = 0
        self.eof = False
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.sni = None
        self.tls.stream = self

    def handshake(self):
        self._run(self.tls.do_handshake)

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)
            self.sent += len(data)

    def _fill(self):
        if self.eof:
            raise ConnectionAbortedError('the peer closed the connection')
        data = self.sock.recv(65536)
        if data:
            self.received += len(data)
            self.incoming.write(data)
        else:
            self.eof = True
            self.incoming.write_eof()

    def _run(self, operation, *args):
        while True:
            try:
                result = operation(*args)
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()

    def recv_into(self, buffer):
        try:
            return self._run(self.tls.read, len(buffer), buffer)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionAbortedError):
            return 0

    def sendall(self, data):
        view = memoryview(data)
        while view:
            view = view[self._run(self.tls.write, view):]

    def close(self):
        # close_notify, without waiting for the peer's.
        try:
            self.tls.unwrap()
        except ssl.SSLError:
            pass
        try:
            self._flush()
        except OSError:
            pass


class RawReader(io.RawIOBase):
    def __init__(self, stream):
        self.stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        return self.stream.recv_into(buffer)


class RecordingReader:
    """What the handler takes from the connection, kept per request (the exact head and body)."""

    def __init__(self, stream):
        self.buffered = io.BufferedReader(RawReader(stream), 65536)
        self.taken = bytearray()
        self.count = 0

    def readline(self, limit=-1):
        return self._keep(self.buffered.readline(limit))

    def read(self, n=-1):
        return self._keep(self.buffered.read(n))

    def _keep(self, data):
        self.count += len(data)
        if len(self.taken) < MAX_LOGGED_BODY + 65536:
            self.taken += data
        return data

    def restart(self):
        self.taken = bytearray()
        self.count = 0

    def close(self):
        pass


class CountingWriter:
    def __init__(self, stream):
        self.stream = stream
        self.head = bytearray()
        self.count = 0

    def write(self, data):
        if self.count == 0 or len(self.head) < 16384:
            self.head += bytes(data)[:16384]
        self.stream.sendall(data)
        self.count += len(data)
        return len(data)

    def flush(self):
        pass

    def restart(self):
        self.head = bytearray()
        self.count = 0

    def close(self):
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    timeout = 30

    def setup(self):
        self.connection = self.request
        self.connection.settimeout(self.timeout)
        self.connection_id = next(connection_ids)
        self.scheme = self.server.scheme
        self.requests = 0
        self.failure = None
        if self.scheme == 'https':
            self.stream = TlsStream(self.connection, self.server.context)
            try:
                self.stream.handshake()
            except (OSError, ssl.SSLError) as e:
                self.failure = 'handshake: ' + str(e)
        else:
            self.stream = PlainStream(self.connection)
        self.sni = getattr(self.stream, 'sni', None)
        self.rfile = RecordingReader(self.stream)
        self.wfile = CountingWriter(self.stream)

    def handle(self):
        if self.failure:
            return
        try:
            super().handle()
        except (OSError, ssl.SSLError) as e:
            self.failure = str(e)
            self.close_connection = True

    def handle_one_request(self):
        self.rfile.restart()
        self.wfile.restart()
        self.command = None
        self.body = b''
        self.status = None
        super().handle_one_request()
        if self.rfile.count:
            self.requests += 1
            self.log_request_record()

    def log_request_record(self):
        taken = bytes(self.rfile.taken)
        head_end = taken.find(b'\r\n\r\n')
        head = taken if head_end < 0 else taken[:head_end + 4]
        headers = list(self.headers.items()) if getattr(self, 'headers', None) is not None else []
        log('requests.jsonl', {
            'connection': self.connection_id, 'scheme': self.scheme, 'sni': self.sni,
            'method': self.command, 'path': getattr(self, 'path', None),
            'host': self.headers.get('Host') if headers else None,
            'headers': [[k, v] for k, v in headers],
            'head': base64.b64encode(head).decode(),
            'body': base64.b64encode(self.body[:MAX_LOGGED_BODY]).decode(),
            'bytesReceived': self.rfile.count, 'bytesSent': self.wfile.count, 'status': self.status,
            'responseHead': base64.b64encode(bytes(self.wfile.head).split(b'\r\n\r\n')[0] + b'\r\n\r\n').decode()})

    def finish(self):
        if self.failure is None:
            try:
                self.stream.close()
            except OSError:
                pass
        # Our side is done (FIN after our close_notify); what the client still sends (its close_notify) is counted
        # until it closes, so that the counts equal what a relay in front of us saw.
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(5)
            while True:
                data = self.connection.recv(65536)
                if not data:
                    break
                self.stream.received += len(data)
        except OSError:
            pass
        log('connections.jsonl', {
            'id': self.connection_id, 'scheme': self.scheme, 'sni': self.sni, 'requests': self.requests,
            'bytesReceived': self.stream.received, 'bytesSent': self.stream.sent, 'failure': self.failure})

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)

    def read_body(self):
        length = self.headers.get('Content-Length')
        if self.headers.get('Transfer-Encoding'):
            self.send_error(411, 'only Content-Length bodies')
            return None
        if length is None:
            return b''
        if not length.isdigit() or int(length) > MAX_BODY:
            self.send_error(400, 'bad Content-Length')
            return None
        self.body = self.rfile.read(int(length))
        return self.body

    def answer(self, status, body, content_type='application/octet-stream', head_only=False):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def serve(self):
        if self.read_body() is None:
            return
        head_only = self.command == 'HEAD'
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith('/bytes/'):
            self.send_bytes(path[len('/bytes/'):], head_only)
        elif path == '/echo-headers':
            body = json.dumps({'method': self.command, 'path': self.path, 'sni': self.sni,
                               'headers': [[k, v] for k, v in self.headers.items()]}).encode()
            self.answer(200, body, 'application/json', head_only)
        elif path == '/echo':
            self.answer(200, self.body, 'application/octet-stream', head_only)
        elif self.command in ('GET', 'HEAD'):
            self.send_file(path, head_only)
        else:
            self.answer(405, b'method not allowed\n', 'text/plain')

    def send_bytes(self, count, head_only):
        if not count.isdigit() or int(count) > (1 << 31):
            self.answer(400, b'bad count\n', 'text/plain')
            return
        n = int(count)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(n))
        self.end_headers()
        if head_only:
            return
        block = bytes(range(256)) * 256
        while n > 0:
            self.wfile.write(block[:min(n, len(block))])
            n -= len(block)

    def send_file(self, path, head_only):
        parts = [p for p in urllib.parse.unquote(path).split('/') if p not in ('', '.')]
        if '..' in parts or any('\0' in p for p in parts):
            self.answer(404, b'not found\n', 'text/plain', head_only)
            return
        file = os.path.join(docroot, *parts)
        if os.path.isdir(file):
            if not path.endswith('/'):
                self.send_response(301)
                self.send_header('Location', path + '/')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            file = os.path.join(file, 'index.html')
        if not os.path.isfile(file):
            self.answer(404, b'not found\n', 'text/plain', head_only)
            return
        with open(file, 'rb') as f:
            body = f.read()
        content_type = mimetypes.guess_type(file)[0] or 'application/octet-stream'
        self.answer(200, body, content_type, head_only)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = serve

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of connections from a policy point (a flood test holds 32)
    # overflowed it, and a handshake the kernel then dropped left half-open connections behind at this side.
    request_queue_size = 128

    def __init__(self, port, scheme, context=None):
        self.scheme = scheme
        self.context = context
        super().__init__((address, port), Handler)


def remember_sni(tls, name, context):
    tls.stream.sni = name


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.sni_callback = remember_sni
servers = [Server(80, 'http'), Server(443, 'https', context)]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
open(ready_file, 'w').close()
servers[0].serve_forever()
