package dev.tableflip.testsupport;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * A closed-loop HTTP/1.1 load over real sockets, counting every failure: keep-alive workers
 * reuse their connection until the server says {@code Connection: close} (then reconnect),
 * fresh workers open a connection per request. A request fails on any I/O error (a failed
 * TLS handshake too), a connection closed before the whole response, or a status other than
 * 2xx; nothing is retried, so a keep-alive connection closed under a request on the wire
 * counts. Over TLS ({@code tls = true}) each fresh connection makes a full handshake; the
 * client accepts any certificate: a test checks which one was served with
 * {@link #servedCertificate}.
 */
public final class HttpLoad implements AutoCloseable {

	private static final Pattern PID = Pattern.compile("\"pid\":(\\d+)");

	/**
	 * The pause of the end-to-end tests' loads after each request. Requests never stop, and the
	 * connections a drain closes while they are idle are there all the time; but the load
	 * leaves a new JVM some of the CPU it needs to start. Without a pause the loads took all of
	 * a 2-core machine (2026-12-05): a new process took 17 to 32 s to start instead of 3.5 on
	 * an idle machine (9 to 16 s with a 10 ms pause), one life of Tomcat took 207 s (97 to 114 s
	 * with 10 ms, 90 s with 20 ms), and the suite 19 minutes (14 to 15 with 10 ms). With the
	 * readiness gate taken out, the Tomcat life still lost 4 requests under this pause, and
	 * failed. The benchmark loads the server without a pause.
	 */
	public static final Duration TESTS_PAUSE = Duration.ofMillis(20);

	/** How long {@link #request} waits for an answer: beyond the default upgrade timeout (60 s). */
	static final int ANSWER_TIMEOUT_MS = 90_000;

	private final InetSocketAddress address;

	private final String path;

	private final boolean tls;

	private final List<Thread> workers = new ArrayList<>();

	private volatile boolean running = true;

	/** How long each worker waits after a request before it sends the next. */
	private final long pauseNanos;

	private final AtomicLong keepAliveOk = new AtomicLong();

	private final AtomicLong keepAliveFailed = new AtomicLong();

	private final AtomicLong freshOk = new AtomicLong();

	private final AtomicLong freshFailed = new AtomicLong();

	/** Failures that were a refused connection: nothing listened on the port. */
	private final AtomicLong refused = new AtomicLong();

	private final List<String> failures = new CopyOnWriteArrayList<>();

	private final Set<Long> pids = ConcurrentHashMap.newKeySet();

	/** Counts per process: which pids answered. */
	private final Map<Long, AtomicLong> answeredBy = new ConcurrentHashMap<>();

	/** Latency of every successful request, in microseconds. */
	private final Recorder latencies = new Recorder(3);

	public HttpLoad(InetSocketAddress address, String path, int keepAliveWorkers, int freshWorkers) {
		this(address, false, path, keepAliveWorkers, freshWorkers);
	}

	/** A load over TLS ({@code tls = true}) or plain TCP. */
	public HttpLoad(InetSocketAddress address, boolean tls, String path, int keepAliveWorkers, int freshWorkers) {
		this(address, tls, path, keepAliveWorkers, freshWorkers, Duration.ZERO);
	}

	/**
	 * A load whose workers each wait {@code pause} after each request before they send the
	 * next: requests all the time, but not all of the CPU.
	 */
	public HttpLoad(InetSocketAddress address, boolean tls, String path, int keepAliveWorkers, int freshWorkers,
			Duration pause) {
		this.address = address;
		this.tls = tls;
		this.path = path;
		this.pauseNanos = pause.toNanos();
		for (int i = 0; i < keepAliveWorkers; i++) {
			this.workers.add(new Thread(this::keepAlive, "load-keepalive-" + i));
		}
		for (int i = 0; i < freshWorkers; i++) {
			this.workers.add(new Thread(this::fresh, "load-fresh-" + i));
		}
		this.workers.forEach(Thread::start);
	}

	/** One response: its status, headers (lower-case names) and body. */
	public record Response(int status, Map<String, String> headers, String body) {

		boolean closes() {
			return "close".equalsIgnoreCase(this.headers.getOrDefault("connection", ""));
		}

	}

	/** Sends one GET on a new connection. */
	public static Response get(InetSocketAddress address, String path) throws IOException {
		return get(address, false, path);
	}

	/** Sends one GET on a new connection, over TLS or plain TCP. */
	public static Response get(InetSocketAddress address, boolean tls, String path) throws IOException {
		try (Socket socket = connect(address, tls)) {
			return exchange(socket, path, true);
		}
	}

	/** Sends a request with a method on a new connection. */
	public static Response request(InetSocketAddress address, String method, String path) throws IOException {
		return request(address, false, method, path);
	}

	/**
	 * Sends a request with a method on a new connection, over TLS or plain TCP, and waits for its
	 * answer up to {@link #ANSWER_TIMEOUT_MS}: longer than a request of the load may take, since
	 * an upgrade by the endpoint answers once the new process is ready or the upgrade has failed
	 * (at the latest when {@code tableflip.upgrade-timeout}, 60 s by default, runs out), and a new
	 * JVM on a busy 2-core machine took 30 s to be ready.
	 */
	public static Response request(InetSocketAddress address, boolean tls, String method, String path)
			throws IOException {
		try (Socket socket = connect(address, tls)) {
			socket.setSoTimeout(ANSWER_TIMEOUT_MS);
			OutputStream out = socket.getOutputStream();
			out.write((method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				.getBytes(StandardCharsets.US_ASCII));
			out.flush();
			return read(new BufferedInputStream(socket.getInputStream()));
		}
	}

	/** The pid in a response of the test application. */
	public static long pidOf(Response response) {
		return pidOf(response.body());
	}

	/** The pid in the body of a response of the test application. */
	static long pidOf(String body) {
		Matcher matcher = PID.matcher(body);
		if (!matcher.find()) {
			throw new IllegalStateException("no pid in " + body);
		}
		return Long.parseLong(matcher.group(1));
	}

	private void keepAlive() {
		Socket socket = null;
		while (this.running) {
			long started = System.nanoTime();
			try {
				if (socket == null) {
					socket = connect(this.address, this.tls);
				}
				Response response = exchange(socket, this.path, false);
				count(response, this.keepAliveOk, this.keepAliveFailed, "keep-alive", started);
				if (response.closes()) {
					socket.close();
					socket = null;
				}
			}
			catch (IOException ex) {
				countRefused(ex);
				fail(this.keepAliveFailed, "keep-alive: " + ex);
				closeQuietly(socket);
				socket = null;
			}
			pause();
		}
		closeQuietly(socket);
	}

	private void fresh() {
		while (this.running) {
			long started = System.nanoTime();
			try (Socket socket = connect(this.address, this.tls)) {
				count(exchange(socket, this.path, true), this.freshOk, this.freshFailed, "fresh", started);
			}
			catch (IOException ex) {
				countRefused(ex);
				fail(this.freshFailed, "fresh: " + ex);
			}
			pause();
		}
	}

	private void pause() {
		if (this.pauseNanos > 0) {
			LockSupport.parkNanos(this.pauseNanos);
		}
	}

	private void count(Response response, AtomicLong ok, AtomicLong failed, String kind, long started) {
		if (response.status() / 100 == 2) {
			ok.incrementAndGet();
			this.latencies.recordValue(Math.max(1, (System.nanoTime() - started) / 1000));
			long pid = pidOf(response);
			this.pids.add(pid);
			this.answeredBy.computeIfAbsent(pid, (key) -> new AtomicLong()).incrementAndGet();
		}
		else {
			fail(failed, kind + ": HTTP " + response.status());
		}
	}

	private void countRefused(IOException ex) {
		if (ex instanceof java.net.ConnectException) {
			this.refused.incrementAndGet();
		}
	}

	private void fail(AtomicLong failed, String failure) {
		failed.incrementAndGet();
		if (this.failures.size() < 50) {
			this.failures.add(failure);
		}
	}

	/** A connection with the timeouts and options the load uses. */
	public static Socket connect(InetSocketAddress address) throws IOException {
		return connect(address, false);
	}

	/** A connection with the timeouts and options the load uses, over TLS (handshake done) or not. */
	public static Socket connect(InetSocketAddress address, boolean tls) throws IOException {
		Socket socket = new Socket();
		socket.connect(address, 5_000);
		socket.setSoTimeout(30_000);
		socket.setTcpNoDelay(true);
		if (!tls) {
			return socket;
		}
		SSLSocket secure;
		try {
			secure = (SSLSocket) TrustingAnyCertificate.CONTEXT.getSocketFactory()
				.createSocket(socket, address.getHostString(), address.getPort(), true);
			secure.startHandshake();
		}
		catch (IOException ex) {
			socket.close();
			throw ex;
		}
		return secure;
	}

	/** The subject of the certificate a TLS server on {@code address} presents to a new connection. */
	public static String servedCertificate(InetSocketAddress address) throws IOException {
		try (SSLSocket socket = (SSLSocket) connect(address, true)) {
			return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSubjectX500Principal().getName();
		}
	}

	/** The TLS context of the test clients: it takes any certificate. */
	static SSLContext trustingAnyCertificate() {
		return TrustingAnyCertificate.CONTEXT;
	}

	/** The client's TLS context: it takes any certificate, as a test client that checks the served one itself. */
	private static final class TrustingAnyCertificate implements X509TrustManager {

		static final SSLContext CONTEXT = context();

		private static SSLContext context() {
			try {
				SSLContext context = SSLContext.getInstance("TLS");
				context.init(null, new TrustManager[] { new TrustingAnyCertificate() }, null);
				return context;
			}
			catch (GeneralSecurityException ex) {
				throw new IllegalStateException(ex);
			}
		}

		@Override
		public void checkClientTrusted(X509Certificate[] chain, String authType) {
		}

		@Override
		public void checkServerTrusted(X509Certificate[] chain, String authType) {
		}

		@Override
		public X509Certificate[] getAcceptedIssuers() {
			return new X509Certificate[0];
		}

	}

	/** Sends a GET on {@code socket} and reads the response; {@code close} asks the server to close after it. */
	public static Response exchange(Socket socket, String path, boolean close) throws IOException {
		OutputStream out = socket.getOutputStream();
		out.write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n")
			.getBytes(StandardCharsets.US_ASCII));
		out.flush();
		return read(socket.getInputStream());
	}

	static Response read(InputStream in) throws IOException {
		String status = line(in);
		if (status == null) {
			throw new IOException("connection closed before the response");
		}
		String[] parts = status.split(" ");
		if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
			throw new IOException("not an HTTP response: " + status);
		}
		Map<String, String> headers = new java.util.HashMap<>();
		for (String header = line(in); header != null && !header.isEmpty(); header = line(in)) {
			int colon = header.indexOf(':');
			headers.put(header.substring(0, colon).trim().toLowerCase(Locale.ROOT), header.substring(colon + 1).trim());
		}
		ByteArrayOutputStream body = new ByteArrayOutputStream();
		if (headers.containsKey("content-length")) {
			int length = Integer.parseInt(headers.get("content-length"));
			body.write(in.readNBytes(length));
			if (body.size() < length) {
				throw new IOException("connection closed in the middle of the body");
			}
		}
		else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
			while (true) {
				String size = line(in);
				if (size == null) {
					throw new IOException("connection closed in the middle of a chunked body");
				}
				int length = Integer.parseInt(size.trim(), 16);
				if (length == 0) {
					line(in);
					break;
				}
				body.write(in.readNBytes(length));
				line(in);
			}
		}
		else if (hasBody(Integer.parseInt(parts[1]))) {
			body.write(in.readAllBytes()); // neither length nor chunks: the body ends with the connection (Jetty)
		}
		return new Response(Integer.parseInt(parts[1]), headers, body.toString(StandardCharsets.UTF_8));
	}

	private static boolean hasBody(int status) {
		return status >= 200 && status != 204 && status != 304;
	}

	private static String line(InputStream in) throws IOException {
		StringBuilder line = new StringBuilder();
		while (true) {
			int b = in.read();
			if (b < 0) {
				return (line.length() == 0) ? null : line.toString();
			}
			if (b == '\n') {
				int end = line.length();
				return (end > 0 && line.charAt(end - 1) == '\r') ? line.substring(0, end - 1) : line.toString();
			}
			line.append((char) b);
		}
	}

	private static void closeQuietly(Socket socket) {
		if (socket != null) {
			try {
				socket.close();
			}
			catch (IOException ex) {
				// nothing to do
			}
		}
	}

	public long keepAliveOk() {
		return this.keepAliveOk.get();
	}

	public long keepAliveFailed() {
		return this.keepAliveFailed.get();
	}

	public long freshOk() {
		return this.freshOk.get();
	}

	public long freshFailed() {
		return this.freshFailed.get();
	}

	/** Failed requests whose connection was refused: no process, and no one else, held the listener. */
	public long refused() {
		return this.refused.get();
	}

	public long failed() {
		return keepAliveFailed() + freshFailed();
	}

	/**
	 * The latencies (microseconds) of the requests that succeeded since the last call (or the
	 * start).
	 */
	public Histogram latencySinceLastCall() {
		return this.latencies.getIntervalHistogram();
	}

	/** Successful requests so far. */
	public long ok() {
		return keepAliveOk() + freshOk();
	}

	public Set<Long> pids() {
		return Set.copyOf(this.pids);
	}

	public String summary() {
		return String.format("keep-alive %d ok / %d failed, fresh %d ok / %d failed (%d refused), answered by %s%s",
				keepAliveOk(), keepAliveFailed(), freshOk(), freshFailed(), refused(), this.answeredBy,
				this.failures.isEmpty() ? "" : "\nfirst failures: " + this.failures);
	}

	/** Stops the workers and waits for them. */
	@Override
	public void close() throws InterruptedException {
		this.running = false;
		for (Thread worker : this.workers) {
			worker.join(Duration.ofSeconds(40).toMillis());
		}
	}

}
