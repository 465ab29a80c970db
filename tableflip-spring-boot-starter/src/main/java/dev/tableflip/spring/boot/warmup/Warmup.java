package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
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
 * The requests are shaped as clients shape theirs, and written as bytes ({@link WarmupConnection}):
 * a {@code GET} without a body carries no {@code Content-Length}, the host is named by address
 * and by name ({@code localhost}, when it is the listener's address) in turn, and the header
 * lines besides it vary ({@link #SHAPES}). A server parses each kind by its own code; measured, a
 * new process warmed up with {@code Content-Length: 0} and {@code 127.0.0.1} threw its compiled
 * request path away at its first requests from clients that sent neither
 * ({@code -Xlog:deoptimization} on JDK 25; on JDK 17, {@code Http11Processor.service},
 * {@code prepareRequest} and {@code Http11InputBuffer.nextRequest} "made not entrant" within
 * 120 ms of ready).
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

	private static final Duration READ_TIMEOUT = Duration.ofSeconds(30);

	private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

	/** How many requests a surge sends at once: more than a server's idle threads (Tomcat keeps 10). */
	static final int SURGE = 32;

	static final long SURGE_SECONDS = 5;

	/**
	 * The header lines each request carries besides {@code Host}, in turn: none (as load
	 * generators send), a user agent and {@code Accept} (as curl does), and as browsers and
	 * client libraries do, with {@code Accept-Encoding} and {@code Connection: keep-alive}. A
	 * server handles some of them by code of their own (a compressed answer, the connection's
	 * header).
	 */
	static final List<String> SHAPES = List.of("", "User-Agent: tableflip-warmup\r\nAccept: */*\r\n",
			"User-Agent: tableflip-warmup\r\nAccept: text/html, application/json, */*;q=0.8\r\n"
					+ "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n");

	/** The methods clients send a {@code Content-Length: 0} with when they have no body; others go without one. */
	private static final Set<String> BODYLESS_WITH_LENGTH = Set.of("POST", "PUT", "PATCH");

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
		ExecutorService surgeThreads = Executors.newCachedThreadPool(daemon("tableflip-warmup-surge"));
		try {
			send(new Wire(address, hosts(address), this.requests), workers, surgeThreads);
		}
		finally {
			workers.shutdownNow();
			surgeThreads.shutdownNow();
			listener.close();
		}
	}

	/** The listener's {@code Host} by address, and by the name {@code localhost} if that is what it resolves to. */
	private static List<String> hosts(InetSocketAddress address) {
		InetAddress ip = address.getAddress();
		String literal = (ip instanceof Inet6Address) ? "[" + ip.getHostAddress() + "]" : ip.getHostAddress();
		List<String> hosts = new ArrayList<>(List.of(literal + ":" + address.getPort()));
		try {
			if (InetAddress.getByName("localhost").equals(ip)) {
				hosts.add("localhost:" + address.getPort());
			}
		}
		catch (UnknownHostException ex) {
			// no name for it: by address only
		}
		return hosts;
	}

	private void send(Wire wire, ExecutorService workers, ExecutorService surgeThreads) throws Exception {
		long started = System.nanoTime();
		long limit = (this.maxDuration != null) ? started + this.maxDuration.toNanos() : Long.MAX_VALUE;
		long deadline = Math.min(limit, (this.duration != null) ? started + this.duration.toNanos() : Long.MAX_VALUE);
		Sent sent = new Sent();
		JitActivity jit = new JitActivity(sent.answered::get);
		Thread surges = new Thread(() -> surges(wire, surgeThreads, sent), "tableflip-warmup-surges");
		surges.setDaemon(true);
		surges.start();
		try {
			send(wire, workers, sent, jit, started, limit, deadline);
		}
		finally {
			surges.interrupt();
			surges.join();
		}
		if (sent.failure.get() != null) { // a surge's, after the workers were done
			throw new IllegalStateException(sent.failure.get());
		}
	}

	private void send(Wire wire, ExecutorService workers, Sent sent, JitActivity jit, long started, long limit,
			long deadline) throws Exception {
		run(wire, workers, sent, (n) -> (this.count > 0 && n >= this.count) || System.nanoTime() >= deadline);
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
				run(wire, workers, sent, (n) -> stop.get());
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

	/**
	 * Runs the workers, each on a kept-alive connection of its own, until {@code done} says, for
	 * the number of the next request, to stop.
	 */
	private void run(Wire wire, ExecutorService workers, Sent sent, LongPredicate done) throws Exception {
		Runnable worker = () -> {
			try (WarmupConnection connection = wire.connect()) {
				while (sent.failure.get() == null && !Thread.currentThread().isInterrupted()) {
					long n = sent.issued.getAndIncrement();
					if (done.test(n)) {
						return;
					}
					String problem = wire.send(connection, n);
					if (problem != null) {
						sent.failure.compareAndSet(null, problem + " (after " + sent.answered.get() + " answered requests)");
						return;
					}
					sent.answered.incrementAndGet();
				}
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
	 * requests sent at once on new connections, while the workers send theirs; each is one of
	 * the warm-up's requests (a count is the count, surges included), and counts as answered or
	 * fails it.
	 */
	private void surges(Wire wire, ExecutorService surgeThreads, Sent sent) {
		while (sent.failure.get() == null) {
			try {
				TimeUnit.SECONDS.sleep(SURGE_SECONDS);
			}
			catch (InterruptedException ex) {
				return;
			}
			List<Future<@Nullable String>> answers = new ArrayList<>();
			for (int i = 0; i < SURGE; i++) {
				long n = sent.issued.getAndIncrement();
				if (sent.done.test(n)) {
					break;
				}
				answers.add(surgeThreads.submit(() -> {
					try (WarmupConnection connection = wire.connect()) {
						return wire.send(connection, n);
					}
				}));
			}
			for (Future<@Nullable String> answer : answers) {
				String problem;
				try {
					problem = answer.get();
				}
				catch (InterruptedException ex) {
					return; // the workers are done: the warm-up ends
				}
				catch (ExecutionException ex) {
					problem = "a surge's request failed: " + ex.getCause();
				}
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

	/**
	 * The warm-up's requests as the bytes sent, one for each request, host and shape: request
	 * number {@code n} is the configured requests in turn, each host after a round of them, each
	 * shape after a round of the hosts.
	 */
	private final class Wire {

		private final InetSocketAddress address;

		private final List<WarmupRequest> requests = new ArrayList<>();

		private final List<String> hosts = new ArrayList<>();

		private final List<byte[]> bytes = new ArrayList<>();

		Wire(InetSocketAddress address, List<String> hosts, List<WarmupRequest> requests) {
			this.address = address;
			for (String shape : SHAPES) {
				for (String host : hosts) {
					for (WarmupRequest request : requests) {
						this.requests.add(request);
						this.hosts.add(host);
						this.bytes.add(encode(request, host, shape));
					}
				}
			}
		}

		private static byte[] encode(WarmupRequest request, String host, String shape) {
			byte[] body = (request.body() != null) ? request.body().getBytes(StandardCharsets.UTF_8) : new byte[0];
			StringBuilder head = new StringBuilder(request.method()).append(' ')
				.append(request.path())
				.append(" HTTP/1.1\r\nHost: ")
				.append(host)
				.append("\r\n")
				.append(shape);
			if (request.body() != null) {
				head.append("Content-Type: ").append(request.contentType()).append("\r\n");
			}
			if (request.body() != null || BODYLESS_WITH_LENGTH.contains(request.method())) {
				head.append("Content-Length: ").append(body.length).append("\r\n");
			}
			byte[] headBytes = head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
			byte[] all = Arrays.copyOf(headBytes, headBytes.length + body.length);
			System.arraycopy(body, 0, all, headBytes.length, body.length);
			return all;
		}

		WarmupConnection connect() {
			return new WarmupConnection(this.address, CONNECT_TIMEOUT, READ_TIMEOUT);
		}

		/** Sends request number {@code n} on {@code connection}; what went wrong, or {@code null}. */
		@Nullable String send(WarmupConnection connection, long n) {
			int i = (int) (n % this.bytes.size());
			WarmupRequest request = this.requests.get(i);
			try {
				return problem(request, connection.exchange(this.bytes.get(i), request.method().equals("HEAD")));
			}
			catch (IOException ex) {
				return request + " to " + this.hosts.get(i) + " failed: " + ex;
			}
		}

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
