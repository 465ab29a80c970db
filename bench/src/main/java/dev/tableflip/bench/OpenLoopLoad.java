package dev.tableflip.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.tableflip.testsupport.HttpLoad;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * An open-loop, constant-rate HTTP/1.1 load: request {@code i} is due at {@code start + i/rate}
 * whether or not earlier ones were answered, and its latency counts from when it was due, not
 * from when a free connection sent it (so a stalled server shows as latency instead of hiding
 * it, as closed-loop clients do). Keep-alive connections, each owned by a sender thread;
 * a connection the server closes ({@code Connection: close}) is replaced by a new one.
 * Latencies (microseconds) go to an HdrHistogram {@link Recorder}; {@link #sample()} takes
 * what completed since the previous call.
 */
final class OpenLoopLoad implements AutoCloseable {

	private final InetSocketAddress address;

	private final String path;

	private final long intervalNanos;

	private final long start = System.nanoTime();

	private final AtomicLong next = new AtomicLong();

	private final AtomicLong failed = new AtomicLong();

	private final AtomicLong answered = new AtomicLong();

	private final Recorder latencies = new Recorder(TimeUnit.MINUTES.toMicros(2), 2);

	private final List<Thread> senders = new ArrayList<>();

	private volatile boolean running = true;

	private volatile String firstFailure;

	OpenLoopLoad(InetSocketAddress address, String path, double rate, int connections) {
		this.address = address;
		this.path = path;
		this.intervalNanos = (long) (1_000_000_000L / rate);
		for (int i = 0; i < connections; i++) {
			Thread sender = new Thread(this::send, "open-loop-" + i);
			sender.setDaemon(true);
			sender.start();
			this.senders.add(sender);
		}
	}

	private void send() {
		Socket socket = null;
		while (this.running) {
			long due = this.start + this.next.getAndIncrement() * this.intervalNanos;
			long wait = due - System.nanoTime();
			if (wait > 0) {
				LockSupport.parkNanos(wait);
			}
			if (!this.running) {
				break;
			}
			try {
				if (socket == null) {
					socket = HttpLoad.connect(this.address);
				}
				HttpLoad.Response response = HttpLoad.exchange(socket, this.path, false);
				if (response.status() / 100 != 2) {
					fail("HTTP " + response.status());
				}
				else {
					this.answered.incrementAndGet();
					this.latencies.recordValue(Math.max(0, (System.nanoTime() - due) / 1000));
				}
				if ("close".equalsIgnoreCase(response.headers().get("connection"))) {
					socket.close();
					socket = null;
				}
			}
			catch (IOException ex) {
				fail(String.valueOf(ex));
				close(socket);
				socket = null;
			}
		}
		close(socket);
	}

	private void fail(String failure) {
		if (this.failed.incrementAndGet() == 1) {
			this.firstFailure = failure;
		}
	}

	private static void close(Socket socket) {
		try {
			if (socket != null) {
				socket.close();
			}
		}
		catch (IOException ex) {
			// gone already
		}
	}

	/** The latencies of the requests answered since the previous call. */
	Histogram sample() {
		return this.latencies.getIntervalHistogram();
	}

	long failed() {
		return this.failed.get();
	}

	long answered() {
		return this.answered.get();
	}

	String firstFailure() {
		return this.firstFailure;
	}

	@Override
	public void close() throws InterruptedException {
		this.running = false;
		for (Thread sender : this.senders) {
			sender.join(TimeUnit.SECONDS.toMillis(40));
		}
	}

}
