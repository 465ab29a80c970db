package dev.tableflip.spring.boot.warmup;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

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

	private volatile int status = 200;

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
			this.seen.add(exchange.getRequestHeaders().getFirst("Host") + " "
					+ exchange.getRequestHeaders().getFirst("Content-Length"));
			byte[] body = "ok".getBytes(StandardCharsets.US_ASCII);
			exchange.sendResponseHeaders(this.status, body.length);
			exchange.getResponseBody().write(body);
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
			.filteredOn((headers) -> headers.startsWith(address + ":" + port + " "))
			.hasSize(5);
		assertThat(this.seen).filteredOn((headers) -> headers.startsWith("localhost:" + port + " ")).hasSize(5);
	}

	@Test
	void aGetCarriesNoContentLengthAsClientsSendIt() throws Exception {
		warmup(8, null).run();
		if (Runtime.version().feature() >= 19) {
			assertThat(this.seen).hasSize(8).allMatch((headers) -> headers.endsWith(" null"));
		}
		else { // the JDK's HttpClient sends Content-Length: 0 with every GET; every other one goes without it
			assertThat(this.seen).hasSize(8);
			assertThat(this.seen).filteredOn((headers) -> headers.endsWith(" null")).hasSize(4);
			assertThat(this.seen).filteredOn((headers) -> headers.endsWith(" 0")).hasSize(4);
		}
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
