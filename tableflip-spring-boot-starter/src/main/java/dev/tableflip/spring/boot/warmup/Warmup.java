package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
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
 * The requests are shaped as clients shape theirs, where the JDK's client lets them: a
 * {@code GET} without a body carries no {@code Content-Length} (JDK 19 and later; JDK 17's
 * client always sends {@code Content-Length: 0}), and the host is named by address and by name
 * ({@code localhost}, when it is the listener's address) in turn. A server parses each kind by
 * its own code; measured, a new process warmed up with {@code Content-Length: 0} and
 * {@code 127.0.0.1} threw its compiled request path away at its first requests from clients that
 * sent neither ({@code -Xlog:deoptimization}).
 */
public final class Warmup implements TakeoverStep, Ordered {

	private static final Log logger = LogFactory.getLog(Warmup.class);

	private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

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
			.connectTimeout(Duration.ofSeconds(5))
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
				+ this.concurrency + " at a time: " + this.requests + "; the JIT compiled for " + jit.compiledMillis()
				+ " ms of it";
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
				WarmupRequest request = this.requests.get((int) (n % this.requests.size()));
				String base = bases.get((int) ((n / this.requests.size()) % bases.size()));
				String problem = send(client, base, request);
				if (problem != null) {
					sent.failure.compareAndSet(null, problem + " (after " + sent.answered.get() + " answered requests)");
					return;
				}
				sent.answered.incrementAndGet();
			}
		};
		List<Future<?>> running = new ArrayList<>();
		for (int i = 0; i < this.concurrency; i++) {
			running.add(workers.submit(worker));
		}
		for (Future<?> future : running) {
			future.get();
		}
		if (sent.failure.get() != null) {
			throw new IllegalStateException(sent.failure.get());
		}
	}

	/** Sends one request; what went wrong, or {@code null}. */
	private @Nullable String send(HttpClient client, String base, WarmupRequest request) {
		HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(base + request.path()))
			.timeout(REQUEST_TIMEOUT);
		if (request.body() != null) {
			builder.header("Content-Type", request.contentType())
				.method(request.method(), BodyPublishers.ofString(request.body()));
		}
		else if (request.method().equals("GET")) {
			builder.GET(); // without Content-Length, as clients send it (JDK 19 and later)
		}
		else {
			builder.method(request.method(), BodyPublishers.noBody());
		}
		try {
			int status = client.send(builder.build(), BodyHandlers.discarding()).statusCode();
			if (this.requireSuccess && (status < 200 || status > 299)) {
				return request + " answered " + status;
			}
			return null;
		}
		catch (IOException ex) {
			return request + " to " + base + " failed: " + ex;
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return request + " was interrupted";
		}
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

		final AtomicReference<String> failure = new AtomicReference<>();

	}

}
