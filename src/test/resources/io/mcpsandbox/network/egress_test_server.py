# HTTP (:80) and HTTPS (:443) test server for EgressProxySystemTest, run inside the test's network namespace.
# Counts the raw TCP bytes of every connection (TLS included, through a MemoryBIO) and logs one JSON line per
# connection: tls, sni, method, path, headers, raw_in, raw_out. Paths: /bytes/<n> (n bytes), /echo-headers.
import json, socket, ssl, sys, threading
address, cert, key, log_file, ready_file = sys.argv[1:6]
lock = threading.Lock()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
snis = {}
def on_sni(obj, name, context):
    snis[id(obj)] = name
ctx.sni_callback = on_sni

class Conn:
    def __init__(self, sock, tls):
        self.sock, self.tls, self.raw_in, self.raw_out = sock, tls, 0, 0
        if tls:
            self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.obj = ctx.wrap_bio(self.inc, self.out, server_side=True)
    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)
            self.raw_out += len(data)
    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.raw_in += len(data)
        self.inc.write(data)
    def run(self, fn, *args):
        while True:
            try:
                result = fn(*args)
                self.flush()
                return result
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
    def recv(self):
        if self.tls:
            return self.run(self.obj.read, 65536)
        data = self.sock.recv(65536)
        self.raw_in += len(data)
        return data
    def send(self, data):
        if self.tls:
            self.run(self.obj.write, data)
        else:
            self.sock.sendall(data)
            self.raw_out += len(data)

def handle(sock, tls):
    conn = Conn(sock, tls)
    entry = {'tls': tls, 'sni': None, 'method': None, 'path': None, 'headers': []}
    try:
        if tls:
            conn.run(conn.obj.do_handshake)
            entry['sni'] = snis.pop(id(conn.obj), None)
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = conn.recv()
            if not chunk:
                raise EOFError()
            data += chunk
        head, body = data.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        entry['method'], entry['path'], _ = lines[0].split(' ')
        entry['headers'] = [l.split(':', 1)[0:1] + [l.split(':', 1)[1].strip()] for l in lines[1:]]
        length = int(dict((k.lower(), v) for k, v in entry['headers']).get('content-length', '0'))
        while len(body) < length:
            chunk = conn.recv()
            if not chunk:
                break
            body += chunk
        if entry['path'].startswith('/bytes/'):
            answer = b'x' * int(entry['path'][7:])
        elif entry['path'] == '/echo-headers':
            answer = json.dumps(entry['headers']).encode()
        else:
            answer = b'ok'
        conn.send(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(answer))
        for i in range(0, len(answer), 65536):
            conn.send(answer[i:i + 65536])
    except (EOFError, OSError, ssl.SSLError, ValueError) as e:
        entry['error'] = repr(e)
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        while True:
            rest = sock.recv(65536)
            if not rest:
                break
            conn.raw_in += len(rest)
    except OSError:
        pass
    sock.close()
    entry['raw_in'], entry['raw_out'] = conn.raw_in, conn.raw_out
    with lock, open(log_file, 'a') as f:
        f.write(json.dumps(entry) + '\n')

def serve(listener, tls):
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle, args=(sock, tls), daemon=True).start()

plain = socket.create_server((address, 80), backlog=128)
secure = socket.create_server((address, 443), backlog=128)
threading.Thread(target=serve, args=(plain, False), daemon=True).start()
threading.Thread(target=serve, args=(secure, True), daemon=True).start()
open(ready_file, 'w').close()
threading.Event().wait()
