package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpServer;
import dev.tableflip.spring.boot.PrivateListener;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import org.springframework.boot.web.server.WebServer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalStateException;
import static org.assertj.core.api.Assumptions.assumeThat;

/**
 * The warm-up against a real HTTP server on loopback (the JDK's), standing in for the private
 * listener of the application's own server.
 */
class WarmupTests {

	private static final List<WarmupRequest> GET_ROOT = List.of(new WarmupRequest("GET", "/", null, "text/plain"));

	private final AtomicInteger served = new AtomicInteger();

	/** Each request's {@code Host} and {@code Content-Length} headers. */
	private final List<String> seen = new CopyOnWriteArrayList<>();

	private final List<String> bodies = new CopyOnWriteArrayList<>();

	/** The client's port of each request's connection. */
	private final Set<Integer> connections = ConcurrentHashMap.newKeySet();

	private volatile int status = 200;

	/** Whether the answers are chunked, instead of with a {@code Content-Length}. */
	private volatile boolean chunked;

	/** The server closes the connection after every this many requests. */
	private volatile int closeEvery = Integer.MAX_VALUE;

	/** How long the server holds each request before it answers. */
	private volatile long holdMillis;

	private final AtomicInteger inFlight = new AtomicInteger();

	private final AtomicInteger mostInFlight = new AtomicInteger();

	private final ExecutorService serverThreads = Executors.newCachedThreadPool();

	private HttpServer server;

	@BeforeEach
	void startServer() throws IOException {
		this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
		this.server.setExecutor(this.serverThreads);
		this.server.createContext("/", (exchange) -> {
			this.mostInFlight.accumulateAndGet(this.inFlight.incrementAndGet(), Math::max);
			try {
				Thread.sleep(this.holdMillis);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
			}
			this.inFlight.decrementAndGet();
			this.served.incrementAndGet();
			Headers headers = exchange.getRequestHeaders();
			this.seen.add(exchange.getRequestMethod() + " " + headers.getFirst("Host") + " "
					+ headers.getFirst("Content-Length") + " " + headers.getFirst("Content-Type") + " "
					+ headers.getFirst("Accept") + " " + headers.getFirst("Accept-Encoding"));
			this.bodies.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
			this.connections.add(exchange.getRemoteAddress().getPort());
			if (this.served.get() % this.closeEvery == 0) {
				exchange.getResponseHeaders().set("Connection", "close");
			}
			byte[] body = "ok".getBytes(StandardCharsets.US_ASCII);
			exchange.sendResponseHeaders(this.status, this.chunked ? 0 : body.length); // 0: chunked
			if (!exchange.getRequestMethod().equals("HEAD")) {
				exchange.getResponseBody().write(body);
			}
			exchange.close();
		});
		this.server.start();
	}

	@AfterEach
	void stopServer() {
		this.server.stop(0);
		this.serverThreads.shutdownNow();
	}

	private Warmup warmup(long count, Duration maxDuration) {
		return new Warmup(this::listener, GET_ROOT, count, null, 2, true, maxDuration);
	}

	private PrivateListener listener() {
		return new PrivateListener() {

			@Override
			public boolean isFor(WebServer server) {
				return true;
			}

			@Override
			public InetSocketAddress open() {
				return WarmupTests.this.server.getAddress();
			}

			@Override
			public void close() {
			}

		};
	}

	@Test
	void aSurgeOfRequestsGoesAtOnceEveryFewSecondsBesidesTheWorkersAndCountsInTheCount() throws Exception {
		this.holdMillis = 200; // 2 workers send 10 a second: 100 take longer than a surge's interval
		warmup(100, null).run();
		assertThat(this.mostInFlight.get()).as("requests in flight at once, with a concurrency of 2")
			.isGreaterThanOrEqualTo(Warmup.SURGE);
		assertThat(this.served).hasValue(100);
	}

	@Test
	void aCountIsExactlyWhatIsSent() throws Exception {
		warmup(50, null).run();
		assertThat(this.served).hasValue(50);
	}

	@Test
	void theHostIsNamedByAddressAndByNameInTurn() throws Exception {
		assumeThat(InetAddress.getByName("localhost")).as("localhost is the loopback address")
			.isEqualTo(InetAddress.getLoopbackAddress());
		warmup(10, null).run();
		int port = this.server.getAddress().getPort();
		String address = InetAddress.getLoopbackAddress().getHostAddress();
		assertThat(this.seen).hasSize(10)
			.filteredOn((headers) -> headers.startsWith("GET " + address + ":" + port + " "))
			.hasSize(5);
		assertThat(this.seen).filteredOn((headers) -> headers.startsWith("GET localhost:" + port + " ")).hasSize(5);
	}

	@Test
	void aGetCarriesNoContentLengthAndABodyItsLengthAndTypeAsClientsSendThem() throws Exception {
		List<WarmupRequest> requests = List.of(new WarmupRequest("GET", "/", null, "text/plain"),
				new WarmupRequest("POST", "/orders", "{\"item\":\"é\"}", "application/json"),
				new WarmupRequest("DELETE", "/orders/1", null, "text/plain"));
		new Warmup(this::listener, requests, 3, null, 1, true, null).run();
		assertThat(this.seen).hasSize(3);
		assertThat(this.seen.get(0)).startsWith("GET ").contains(" null null ");
		assertThat(this.seen.get(1)).startsWith("POST ").contains(" 13 application/json "); // the é is two bytes
		assertThat(this.bodies.get(1)).isEqualTo("{\"item\":\"é\"}");
		assertThat(this.seen.get(2)).startsWith("DELETE ").contains(" null null ");
	}

	@Test
	void theHeadersBesidesTheHostVaryInTurnAsClientsSendThem() throws Exception {
		int rounds = Warmup.SHAPES.size();
		int hosts = InetAddress.getByName("localhost").equals(InetAddress.getLoopbackAddress()) ? 2 : 1;
		new Warmup(this::listener, GET_ROOT, rounds * hosts, null, 1, true, null).run();
		assertThat(this.seen).hasSize(rounds * hosts);
		assertThat(this.seen.subList(0, hosts)).allMatch((headers) -> headers.endsWith(" null null"));
		assertThat(this.seen.subList(hosts, 2 * hosts)).allMatch((headers) -> headers.endsWith(" */* null"));
		assertThat(this.seen.subList(2 * hosts, 3 * hosts)).allMatch((headers) -> headers.endsWith(" gzip, deflate"));
	}

	@Test
	void eachWorkerKeepsItsConnectionAliveAndOpensANewOneWhenTheServerClosesIt() throws Exception {
		new Warmup(this::listener, GET_ROOT, 40, null, 2, true, null).run();
		assertThat(this.served).hasValue(40);
		assertThat(this.connections).as("one kept-alive connection per worker").hasSize(2);
		this.served.set(0);
		this.connections.clear();
		this.closeEvery = 10;
		new Warmup(this::listener, GET_ROOT, 40, null, 1, true, null).run();
		assertThat(this.served).hasValue(40);
		assertThat(this.connections).as("a new connection after each Connection: close").hasSize(4);
	}

	@Test
	void chunkedAnswersAndAnswersToAHeadAreReadToTheirEnd() throws Exception {
		this.chunked = true;
		List<WarmupRequest> requests = List.of(new WarmupRequest("GET", "/", null, "text/plain"),
				new WarmupRequest("HEAD", "/", null, "text/plain"));
		new Warmup(this::listener, requests, 20, null, 1, true, null).run();
		assertThat(this.served).hasValue(20);
		assertThat(this.connections).as("every answer read to its end, on one kept-alive connection").hasSize(1);
	}

	@Test
	void untilJitIdleGoesOnAfterTheCountForAtLeastAWholeWindowOfTheJitsTime() throws Exception {
		long started = System.nanoTime();
		warmup(50, Duration.ofSeconds(8)).run();
		long millis = (System.nanoTime() - started) / 1_000_000;
		assertThat(this.served.get()).as("requests after the count, while the JIT was watched").isGreaterThan(50);
		assertThat(millis).as("the JIT is idle only after a whole window of samples; max-duration ends it anyway")
			.isGreaterThanOrEqualTo(JitActivity.WINDOW_MILLIS)
			.isLessThan(Duration.ofSeconds(12).toMillis());
	}

	@Test
	void maxDurationEndsAWarmupWhoseJitIsNotKnownIdleYet() throws Exception {
		long started = System.nanoTime();
		warmup(10, Duration.ofMillis(700)).run();
		long millis = (System.nanoTime() - started) / 1_000_000;
		assertThat(this.served.get()).isGreaterThan(10);
		assertThat(millis).as("stopped at max-duration, before a window of the JIT's time was seen")
			.isLessThan(JitActivity.WINDOW_MILLIS);
	}

	@Test
	void aFailedAnswerWhileWaitingForTheJitFailsTheWarmup() {
		Warmup warmup = warmup(20, Duration.ofSeconds(30));
		Thread failLater = new Thread(() -> {
			try {
				while (this.served.get() <= 20) {
					Thread.sleep(1);
				}
				this.status = 500;
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
			}
		});
		failLater.setDaemon(true);
		failLater.start();
		assertThatIllegalStateException().isThrownBy(warmup::run).withMessageContaining("GET / answered 500");
	}

}
