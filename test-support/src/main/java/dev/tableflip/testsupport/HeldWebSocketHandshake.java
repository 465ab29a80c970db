package dev.tableflip.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

import javax.net.ssl.SSLException;

/**
 * A WebSocket handshake held half-sent on a connection that a chosen process accepted: the
 * request's headers without the blank line that ends them, for which the server waits.
 * {@link #finish()} sends the rest at the moment the test chooses (while the server drains, say)
 * and {@link #awaitClose(Duration)} then reads the session until the server closes it.
 */
public final class HeldWebSocketHandshake implements AutoCloseable {

	/** What a client reports for a session that ended without a close frame. */
	public static final int NO_CLOSE_FRAME = 1006;

	private final Socket socket;

	private HeldWebSocketHandshake(Socket socket) {
		this.socket = socket;
	}

	/**
	 * Opens connections until the process {@code pid} answers one (a {@code GET /} of the test
	 * application, which keeps the connection), and begins a handshake on {@code path} there.
	 */
	public static HeldWebSocketHandshake begin(InetSocketAddress address, boolean tls, String path, long pid,
			Duration within) throws IOException, InterruptedException {
		long deadline = System.nanoTime() + within.toNanos();
		while (true) {
			Socket socket = HttpLoad.connect(address, tls);
			try {
				HttpLoad.Response response = HttpLoad.exchange(socket, "/", false);
				if (response.status() == 200 && HttpLoad.pidOf(response) == pid && !response.closes()) {
					OutputStream out = socket.getOutputStream();
					out.write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
							+ "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key() + "\r\n")
						.getBytes(StandardCharsets.US_ASCII));
					out.flush();
					return new HeldWebSocketHandshake(socket);
				}
			}
			catch (IOException ex) {
				// this connection ended: try another
			}
			socket.close();
			if (System.nanoTime() > deadline) {
				throw new IllegalStateException("process " + pid + " answered no connection within " + within);
			}
			Thread.sleep(10);
		}
	}

	/** Sends the end of the handshake's headers; the server's answer (101 to switch protocols). */
	public HttpLoad.Response finish() throws IOException {
		OutputStream out = this.socket.getOutputStream();
		out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
		out.flush();
		return HttpLoad.read(this.socket.getInputStream());
	}

	/**
	 * Reads the session's frames until the server's close frame: its status code, or
	 * {@link #NO_CLOSE_FRAME} if the connection ended without one.
	 */
	public int awaitClose(Duration within) throws IOException {
		this.socket.setSoTimeout((int) within.toMillis());
		InputStream in = this.socket.getInputStream();
		try {
			while (true) {
				int first = in.read();
				int second = in.read();
				if (first < 0 || second < 0) {
					return NO_CLOSE_FRAME;
				}
				long length = second & 0x7f;
				if (length >= 126) {
					byte[] extended = in.readNBytes((length == 126) ? 2 : 8);
					length = 0;
					for (byte b : extended) {
						length = (length << 8) | (b & 0xff);
					}
				}
				byte[] payload = in.readNBytes((int) length);
				if (payload.length < length) {
					return NO_CLOSE_FRAME;
				}
				if ((first & 0x0f) == 0x8) { // a close frame: its status code, if it has one (1005 says it had none)
					return (payload.length >= 2) ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : 1005;
				}
			}
		}
		catch (SocketException | SSLException ex) { // reset
			return NO_CLOSE_FRAME;
		}
	}

	@Override
	public void close() throws IOException {
		this.socket.close();
	}

	private static String key() {
		byte[] key = new byte[16];
		ThreadLocalRandom.current().nextBytes(key);
		return Base64.getEncoder().encodeToString(key);
	}

}
