package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongPredicate;
import java.util.function.Supplier;

import dev.tableflip.spring.boot.PrivateListener;
import dev.tableflip.spring.boot.TakeoverStep;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

import org.springframework.core.Ordered;

/**
 * The new process exercises itself before it is ready, so that its JIT has compiled the hot
 * paths before it takes traffic: it sends the configured requests, a number of them or for a
 * while, to its own server through a private loopback listener that is closed again before
 * the process is ready. A request that fails, or (if required) answers other than 2xx, fails
 * the warm-up, and with it the upgrade.
 * <p>
 * A count or a duration is a guess at how much the JIT needs. Given a {@code maxDuration}, the
 * warm-up then goes on until the JIT has compiled nothing for a while ({@link JitActivity}),
 * at most until {@code maxDuration}: measured under load, a new process whose warm-up stopped
 * at its duration went on compiling for another 12 s after it was ready, with most of a core,
 * while it took over the traffic.
 * <p>
 * The requests are shaped as clients shape theirs: a {@code GET} without a body carries no
 * {@code Content-Length}, and the host is named by address and by name ({@code localhost}, when
 * it is the listener's address) in turn. A server parses each kind by its own code; measured, a
 * new process warmed up with {@code Content-Length: 0} and {@code 127.0.0.1} threw its compiled
 * request path away at its first requests from clients that sent neither
 * ({@code -Xlog:deoptimization} on JDK 25; on JDK 17, {@code Http11Processor.service},
 * {@code prepareRequest} and {@code Http11InputBuffer.nextRequest} "made not entrant" within
 * 120 ms of ready). The JDK's {@code HttpClient} sends {@code Content-Length: 0} with every
 * {@code GET} before JDK 19, so there every other bodyless {@code GET} goes through
 * {@link HttpURLConnection}, which sends none (and adds {@code Accept} and
 * {@code Connection: keep-alive}): the server sees both shapes.
 * <p>
 * Every {@value #SURGE_SECONDS} s, {@value #SURGE} requests go at once, besides the workers': a
 * server's thread pool grows under real traffic, and code compiled while it never had to (a
 * warm-up {@code concurrency} below the pool's idle threads) is thrown away when it does.
 * Measured (JDK 25, {@code -Xlog:deoptimization}), Tomcat's {@code TaskQueue.offer} and
 * {@code ThreadPoolExecutor.getTask} trapped 2 s after ready, with a p99 above twice the
 * steady one in that 100 ms; on JDK 17 {@code Http11Processor.service} went with them.
 */
public final class Warmup implements TakeoverStep, Ordered {

	private static final Log logger = LogFactory.getLog(Warmup.class);

	private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

	private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

	/** How many requests a surge sends at once: more than a server's idle threads (Tomcat keeps 10). */
	static final int SURGE = 32;

	static final long SURGE_SECONDS = 5;

	/** Whether the JDK's {@code HttpClient} sends {@code Content-Length: 0} with a {@code GET} (before JDK 19). */
	private static final boolean CLIENT_SENDS_LENGTH_WITH_GET = Runtime.version().feature() < 19;

	private final Supplier<PrivateListener> listener;

	private final List<WarmupRequest> requests;

	private final long count;

	private final @Nullable Duration duration;

	private final int concurrency;

	private final boolean requireSuccess;

	/** The longest the whole warm-up may take while it waits for the JIT, or {@code null} not to wait. */
	private final @Nullable Duration maxDuration;

	/**
	 * @param listener the private listener of the running server, looked up when the warm-up runs
	 * @param count how many requests to send in all, or 0 to send them for {@code duration}
	 * @param duration how long to send requests when {@code count} is 0
	 * @param maxDuration if not {@code null}, go on after the count or duration until the JIT
	 * is idle, and stop at the latest this long after the warm-up began (the count included)
	 */
	public Warmup(Supplier<PrivateListener> listener, List<WarmupRequest> requests, long count, @Nullable Duration duration,
			int concurrency, boolean requireSuccess, @Nullable Duration maxDuration) {
		if (requests.isEmpty() || concurrency < 1 || (count <= 0 && duration == null)) {
			throw new IllegalArgumentException("a warm-up needs requests, a count or a duration, and a concurrency");
		}
		this.listener = listener;
		this.requests = List.copyOf(requests);
		this.count = count;
		this.duration = duration;
		this.concurrency = concurrency;
		this.requireSuccess = requireSuccess;
		this.maxDuration = maxDuration;
	}

	@Override
	public Phase phase() {
		return Phase.BEFORE_READY;
	}

	@Override
	public String name() {
		return "warm-up";
	}

	@Override
	public void run() throws Exception {
		PrivateListener listener = this.listener.get();
		InetSocketAddress address = listener.open();
		ExecutorService workers = Executors.newFixedThreadPool(this.concurrency, daemon("tableflip-warmup"));
		ExecutorService clientThreads = Executors.newCachedThreadPool(daemon("tableflip-warmup-client"));
		HttpClient client = HttpClient.newBuilder()
			.version(HttpClient.Version.HTTP_1_1)
			.connectTimeout(CONNECT_TIMEOUT)
			.executor(clientThreads)
			.build();
		try {
			send(client, workers, bases(address));
		}
		finally {
			workers.shutdownNow();
			if (client instanceof AutoCloseable closeable) { // JDK 21 and later; before, it goes with the garbage
				closeable.close();
			}
			clientThreads.shutdownNow();
			listener.close();
		}
	}

	/** The listener's URI by address, and by the name {@code localhost} if that is what it resolves to. */
	private static List<String> bases(InetSocketAddress address) {
		InetAddress ip = address.getAddress();
		String literal = (ip instanceof Inet6Address) ? "[" + ip.getHostAddress() + "]" : ip.getHostAddress();
		List<String> bases = new ArrayList<>(List.of("http://" + literal + ":" + address.getPort()));
		try {
			if (InetAddress.getByName("localhost").equals(ip)) {
				bases.add("http://localhost:" + address.getPort());
			}
		}
		catch (UnknownHostException ex) {
			// no name for it: by address only
		}
		return bases;
	}

	private void send(HttpClient client, ExecutorService workers, List<String> bases) throws Exception {
		long started = System.nanoTime();
		long limit = (this.maxDuration != null) ? started + this.maxDuration.toNanos() : Long.MAX_VALUE;
		long deadline = Math.min(limit, (this.duration != null) ? started + this.duration.toNanos() : Long.MAX_VALUE);
		Sent sent = new Sent();
		JitActivity jit = new JitActivity(sent.answered::get);
		Thread surges = new Thread(() -> surges(client, bases, sent), "tableflip-warmup-surge");
		surges.setDaemon(true);
		surges.start();
		try {
			send(client, workers, bases, sent, jit, started, limit, deadline);
		}
		finally {
			surges.interrupt();
			surges.join();
		}
		if (sent.failure.get() != null) { // a surge's, after the workers were done
			throw new IllegalStateException(sent.failure.get());
		}
	}

	private void send(HttpClient client, ExecutorService workers, List<String> bases, Sent sent, JitActivity jit,
			long started, long limit, long deadline) throws Exception {
		run(client, workers, bases, sent, (n) -> (this.count > 0 && n >= this.count) || System.nanoTime() >= deadline);
		long planned = sent.answered.get();
		String jitState = "";
		if (this.maxDuration != null) {
			AtomicBoolean stop = new AtomicBoolean();
			jit.startWindow();
			Thread watch = new Thread(() -> {
				while (!jit.idle() && System.nanoTime() < limit && !stop.get() && jit.sleepAndSample()) {
					// one more sample of the JIT's time
				}
				stop.set(true);
			}, "tableflip-warmup-jit");
			watch.setDaemon(true);
			watch.start();
			try {
				run(client, workers, bases, sent, (n) -> stop.get());
			}
			finally {
				stop.set(true);
				watch.interrupt();
				watch.join();
			}
			jitState = jit.idle() ? "; then " + (sent.answered.get() - planned) + " more until the JIT was idle"
					: "; then " + (sent.answered.get() - planned) + " more, and the JIT was still compiling ("
							+ jit.describe() + ") when tableflip.warmup.max-duration (" + this.maxDuration + ") ran out";
		}
		long millis = (System.nanoTime() - started) / 1_000_000;
		String message = "Warm-up sent " + planned + " requests" + jitState + ", in " + millis + " ms, "
				+ this.concurrency + " at a time (and " + sent.surges.get() + " surges of " + SURGE + " at once): "
				+ this.requests + "; the JIT compiled for " + jit.compiledMillis() + " ms of it";
		if (this.maxDuration != null && !jit.idle()) {
			logger.warn(message);
		}
		else {
			logger.info(message);
		}
	}

	/** Runs the workers until {@code done} says, for the number of the next request, to stop. */
	private void run(HttpClient client, ExecutorService workers, List<String> bases, Sent sent, LongPredicate done)
			throws Exception {
		Runnable worker = () -> {
			while (sent.failure.get() == null && !Thread.currentThread().isInterrupted()) {
				long n = sent.issued.getAndIncrement();
				if (done.test(n)) {
					return;
				}
				WarmupRequest request = request(n);
				String base = base(n, bases);
				boolean withoutLength = CLIENT_SENDS_LENGTH_WITH_GET && request.body() == null
						&& request.method().equals("GET") && (n / this.requests.size() / bases.size()) % 2 == 1;
				String problem = withoutLength ? sendWithoutLength(base, request) : send(client, base, request);
				if (problem != null) {
					sent.failure.compareAndSet(null, problem + " (after " + sent.answered.get() + " answered requests)");
					return;
				}
				sent.answered.incrementAndGet();
			}
		};
		List<Future<?>> running = new ArrayList<>();
		sent.done = done; // the surges' too
		try {
			for (int i = 0; i < this.concurrency; i++) {
				running.add(workers.submit(worker));
			}
			for (Future<?> future : running) {
				future.get();
			}
		}
		finally {
			sent.done = Sent.NONE;
		}
		if (sent.failure.get() != null) {
			throw new IllegalStateException(sent.failure.get());
		}
	}

	/**
	 * Until interrupted or a request failed: every {@value #SURGE_SECONDS} s, {@value #SURGE}
	 * requests sent at once, while the workers send theirs; each is one of the warm-up's
	 * requests (a count is the count, surges included), and counts as answered or fails it.
	 */
	private void surges(HttpClient client, List<String> bases, Sent sent) {
		while (sent.failure.get() == null) {
			try {
				TimeUnit.SECONDS.sleep(SURGE_SECONDS);
			}
			catch (InterruptedException ex) {
				return;
			}
			List<CompletableFuture<@Nullable String>> answers = new ArrayList<>();
			for (int i = 0; i < SURGE; i++) {
				long n = sent.issued.getAndIncrement();
				if (sent.done.test(n)) {
					break;
				}
				WarmupRequest request = request(n);
				String base = base(n, bases);
				answers.add(client.sendAsync(request(base, request), BodyHandlers.discarding())
					.handle((response, ex) -> (ex != null) ? request + " to " + base + " failed: " + ex
							: problem(request, response.statusCode())));
			}
			for (CompletableFuture<@Nullable String> answer : answers) {
				String problem = answer.join();
				if (problem != null) {
					sent.failure.compareAndSet(null, problem + " (one of a surge of " + SURGE + " at once, after "
							+ sent.answered.get() + " answered requests)");
					return;
				}
				sent.answered.incrementAndGet();
			}
			if (answers.size() == SURGE) {
				sent.surges.incrementAndGet();
			}
		}
	}

	/** Request number {@code n}: the configured requests in turn. */
	private WarmupRequest request(long n) {
		return this.requests.get((int) (n % this.requests.size()));
	}

	/** Where request number {@code n} goes: each host name in turn, after a round of the requests. */
	private String base(long n, List<String> bases) {
		return bases.get((int) ((n / this.requests.size()) % bases.size()));
	}

	/** Sends one request; what went wrong, or {@code null}. */
	private @Nullable String send(HttpClient client, String base, WarmupRequest request) {
		try {
			return problem(request, client.send(request(base, request), BodyHandlers.discarding()).statusCode());
		}
		catch (IOException ex) {
			return request + " to " + base + " failed: " + ex;
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return request + " was interrupted";
		}
	}

	private static HttpRequest request(String base, WarmupRequest request) {
		HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(base + request.path()))
			.timeout(REQUEST_TIMEOUT);
		if (request.body() != null) {
			builder.header("Content-Type", request.contentType())
				.method(request.method(), BodyPublishers.ofString(request.body()));
		}
		else if (request.method().equals("GET")) {
			builder.GET(); // without Content-Length from JDK 19 on; with Content-Length: 0 before
		}
		else {
			builder.method(request.method(), BodyPublishers.noBody());
		}
		return builder.build();
	}

	/**
	 * Sends a bodyless {@code GET} without {@code Content-Length}, through the JDK's
	 * {@link HttpURLConnection}; the answer is read to its end, so that the connection is kept
	 * alive for the next one. What went wrong, or {@code null}.
	 */
	private @Nullable String sendWithoutLength(String base, WarmupRequest request) {
		try {
			HttpURLConnection connection = (HttpURLConnection) URI.create(base + request.path())
				.toURL()
				.openConnection(Proxy.NO_PROXY);
			connection.setConnectTimeout((int) CONNECT_TIMEOUT.toMillis());
			connection.setReadTimeout((int) REQUEST_TIMEOUT.toMillis());
			connection.setUseCaches(false);
			int status = connection.getResponseCode();
			try (InputStream body = (status >= 400) ? connection.getErrorStream() : connection.getInputStream()) {
				if (body != null) {
					body.transferTo(OutputStream.nullOutputStream());
				}
			}
			return problem(request, status);
		}
		catch (IOException ex) {
			return request + " to " + base + " failed: " + ex;
		}
	}

	private @Nullable String problem(WarmupRequest request, int status) {
		return (this.requireSuccess && (status < 200 || status > 299)) ? request + " answered " + status : null;
	}

	private static ThreadFactory daemon(String name) {
		return (task) -> {
			Thread thread = new Thread(task, name);
			thread.setDaemon(true);
			return thread;
		};
	}

	@Override
	public int getOrder() {
		return 0;
	}

	/** What the workers sent so far, and the first failure. */
	private static final class Sent {

		final AtomicLong issued = new AtomicLong();

		final AtomicLong answered = new AtomicLong();

		final AtomicLong surges = new AtomicLong();

		static final LongPredicate NONE = (n) -> true;

		/** Whether request number n is past the end of the workers' current run; between runs, every one is. */
		volatile LongPredicate done = NONE;

		final AtomicReference<String> failure = new AtomicReference<>();

	}

}
