package dev.tableflip.spring.boot.warmup;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;

import org.jspecify.annotations.Nullable;

/**
 * One HTTP/1.1 connection of the warm-up to the private listener: it writes each request as
 * the bytes it is given and reads the answer to its end, so that the connection is kept alive
 * for the next request, and opens a new one when the server closes it (Tomcat does after 100
 * requests). The warm-up writes its requests itself, not through the JDK's clients, for two
 * reasons: the shape of each request is then exactly what clients send, on every JDK (the JDK's
 * {@code HttpClient} sends {@code Content-Length: 0} with a {@code GET} before JDK 19), and the
 * new process's JIT compiles the server's code, not a client's (measured on JDK 17, 19 % of the
 * bytecode C2 compiled in a warm-up through {@code HttpClient} and {@code HttpURLConnection} was
 * theirs).
 * <p>
 * What it reads is an answer as RFC 9112 frames it: interim {@code 1xx} answers skipped, no body
 * after a {@code HEAD} or with {@code 204} and {@code 304}, else a chunked body, a
 * {@code Content-Length}, or a body to the end of the connection. Not thread-safe: one per
 * worker.
 */
final class WarmupConnection implements AutoCloseable {

	/** The longest status or header line read: Tomcat's default header buffer. */
	private static final int MAX_LINE = 8192;

	private final InetSocketAddress address;

	private final Duration connectTimeout;

	private final Duration readTimeout;

	private @Nullable Socket socket;

	private @Nullable InputStream in;

	private @Nullable OutputStream out;

	/** Whether the current answer's first byte was read: after it, a failure is the server's, not a stale connection's. */
	private boolean answering;

	WarmupConnection(InetSocketAddress address, Duration connectTimeout, Duration readTimeout) {
		this.address = address;
		this.connectTimeout = connectTimeout;
		this.readTimeout = readTimeout;
	}

	/**
	 * Sends a request and reads its answer to the end. A kept-alive connection the server closed
	 * before it answered (its keep-alive timeout) is opened again once, as clients do; one on
	 * which the server stays silent for the read timeout is not.
	 * @param request the request's bytes, its head and body
	 * @param head whether it is a {@code HEAD} request, whose answer has no body
	 * @return the answer's status
	 * @throws IOException if it could not be sent, or the answer is cut short or malformed
	 */
	int exchange(byte[] request, boolean head) throws IOException {
		boolean reused = this.socket != null;
		try {
			return exchangeOnce(request, head);
		}
		catch (SocketTimeoutException ex) {
			close();
			throw ex; // the server is silent: the request may be under way, and is not sent twice
		}
		catch (IOException ex) {
			close();
			if (!reused || this.answering) {
				throw ex;
			}
			return exchangeOnce(request, head);
		}
	}

	private int exchangeOnce(byte[] request, boolean head) throws IOException {
		if (this.socket == null) {
			open();
		}
		this.answering = false;
		this.out.write(request);
		this.out.flush();
		String statusLine = readLine();
		int status = status(statusLine);
		while (status >= 100 && status < 200 && status != 101) { // interim answers: their headers, then the real one
			readHeaders();
			statusLine = readLine();
			status = status(statusLine);
		}
		Headers headers = readHeaders();
		boolean close = headers.close || (statusLine.startsWith("HTTP/1.0") && !headers.keepAlive);
		if (head || status == 204 || status == 304) {
			// no body
		}
		else if (headers.chunked) {
			skipChunks();
		}
		else if (headers.contentLength >= 0) {
			this.in.skipNBytes(headers.contentLength);
		}
		else {
			this.in.transferTo(OutputStream.nullOutputStream());
			close = true;
		}
		if (close || status == 101) {
			close();
		}
		return status;
	}

	private void open() throws IOException {
		Socket socket = new Socket();
		try {
			socket.setTcpNoDelay(true);
			socket.connect(this.address, (int) this.connectTimeout.toMillis());
			socket.setSoTimeout((int) this.readTimeout.toMillis());
			this.in = new BufferedInputStream(socket.getInputStream());
			this.out = socket.getOutputStream();
			this.socket = socket;
		}
		catch (IOException ex) {
			socket.close();
			throw ex;
		}
	}

	private static int status(String line) throws IOException {
		if (!line.startsWith("HTTP/1.") || line.length() < 12 || line.charAt(8) != ' ') {
			throw new IOException("not an HTTP/1.x status line: " + printable(line));
		}
		try {
			return Integer.parseInt(line, 9, 12, 10);
		}
		catch (NumberFormatException ex) {
			throw new IOException("no status code in: " + printable(line));
		}
	}

	private Headers readHeaders() throws IOException {
		Headers headers = new Headers();
		for (String line = readLine(); !line.isEmpty(); line = readLine()) {
			int colon = line.indexOf(':');
			if (colon <= 0) {
				throw new IOException("a malformed header line: " + printable(line));
			}
			String name = line.substring(0, colon).trim();
			String value = line.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
			if (name.equalsIgnoreCase("Content-Length")) {
				try {
					headers.contentLength = Long.parseLong(value);
				}
				catch (NumberFormatException ex) {
					throw new IOException("a malformed Content-Length: " + printable(value));
				}
			}
			else if (name.equalsIgnoreCase("Transfer-Encoding")) {
				headers.chunked = value.endsWith("chunked");
			}
			else if (name.equalsIgnoreCase("Connection")) {
				headers.close |= value.contains("close");
				headers.keepAlive |= value.contains("keep-alive");
			}
		}
		return headers;
	}

	private void skipChunks() throws IOException {
		while (true) {
			String line = readLine();
			int extension = line.indexOf(';');
			long size;
			try {
				size = Long.parseLong((extension >= 0) ? line.substring(0, extension).trim() : line.trim(), 16);
			}
			catch (NumberFormatException ex) {
				throw new IOException("a malformed chunk size: " + printable(line));
			}
			if (size == 0) {
				while (!readLine().isEmpty()) {
					// a trailer field
				}
				return;
			}
			this.in.skipNBytes(size);
			if (!readLine().isEmpty()) {
				throw new IOException("a chunk longer than its size");
			}
		}
	}

	/** A line without its CR LF, in ISO-8859-1. */
	private String readLine() throws IOException {
		ByteArrayOutputStream line = new ByteArrayOutputStream(64);
		while (true) {
			int b = this.in.read();
			if (b < 0) {
				throw new EOFException(this.answering ? "the answer ended early" : "the connection was closed before an answer");
			}
			this.answering = true;
			if (b == '\n') {
				byte[] bytes = line.toByteArray();
				int length = (bytes.length > 0 && bytes[bytes.length - 1] == '\r') ? bytes.length - 1 : bytes.length;
				return new String(bytes, 0, length, StandardCharsets.ISO_8859_1);
			}
			if (line.size() == MAX_LINE) {
				throw new IOException("a line longer than " + MAX_LINE + " bytes in the answer");
			}
			line.write(b);
		}
	}

	private static String printable(String text) {
		String shown = (text.length() > 80) ? text.substring(0, 80) + "..." : text;
		return "\"" + shown.replaceAll("\\p{Cntrl}", "?") + "\"";
	}

	@Override
	public void close() {
		Socket socket = this.socket;
		this.socket = null;
		this.in = null;
		this.out = null;
		if (socket != null) {
			try {
				socket.close();
			}
			catch (IOException ex) {
				// closed either way
			}
		}
	}

	/** What an answer's headers say about its body and its connection. */
	private static final class Headers {

		long contentLength = -1;

		boolean chunked;

		boolean close;

		boolean keepAlive;

	}

}
