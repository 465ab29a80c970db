package dev.tableflip.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * An open-loop, constant-rate HTTP/1.1 load: request {@code i} is due at {@code start + i/rate}
 * whether or not earlier ones were answered, and its latency counts from when it was due, not
 * from when a free connection sent it (so a stalled server shows as latency instead of hiding
 * it, as closed-loop clients do). A rate of {@link Double#POSITIVE_INFINITY} sends flat out (the
 * capacity) and counts latency from the send.
 * <p>
 * One thread drives every keep-alive connection through a selector, one request in flight per
 * connection, so that the client costs a fraction of the CPU the server does (a thread per
 * connection with blocking sockets topped out at about 10 k requests/s on 2 cores, well under
 * what the sample can serve). It sleeps with nanosecond precision between due times, not with
 * the selector's millisecond one, so that its own timing does not become the latency it
 * measures. A connection the server closes ({@code Connection: close}, or idle) is replaced by
 * a new one; a request whose connection fails, closes before the whole answer, answers other
 * than 2xx or takes longer than {@value #TIMEOUT_SECONDS} s is a failure. Latencies
 * (microseconds) go to an HdrHistogram {@link Recorder}; {@link #sample()} takes what completed
 * since the previous call.
 * <p>
 * The client runs on the same CPUs as the server it measures, and waits for them as the server
 * does: a request it sends late, or an answer it reads late, counts as the server's latency. So it
 * also records how late its own thread wakes when it sleeps until a request is due (its own wait
 * for a CPU, and the timer's slack), apart from the latencies: {@link #sampleLateness()}. That is
 * one of its two wake-ups per request (the other, when an answer arrives, cannot be told from the
 * server's time), so it shows how much of a latency may be the client's, not how much is.
 */
final class OpenLoopLoad implements AutoCloseable {

	private static final int TIMEOUT_SECONDS = 30;

	private static final long MAX_LATENCY_MICROS = TimeUnit.MINUTES.toMicros(2);

	private final InetSocketAddress address;

	private final byte[] request;

	private final long intervalNanos;

	private final Thread loop;

	private final AtomicLong failed = new AtomicLong();

	private final AtomicLong answered = new AtomicLong();

	private final Recorder latencies = new Recorder(MAX_LATENCY_MICROS, 2);

	private final Recorder lateness = new Recorder(MAX_LATENCY_MICROS, 2);

	private volatile boolean running = true;

	private volatile String firstFailure;

	OpenLoopLoad(InetSocketAddress address, String path, double rate, int connections) {
		this.address = address;
		this.request = ("GET " + path + " HTTP/1.1\r\nHost: " + address.getHostString() + ":" + address.getPort()
				+ "\r\nUser-Agent: tableflip-bench\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
		this.intervalNanos = Double.isInfinite(rate) ? 0 : (long) (1_000_000_000L / rate);
		List<Connection> pool = new ArrayList<>();
		for (int i = 0; i < connections; i++) {
			pool.add(new Connection());
		}
		this.loop = new Thread(() -> run(pool), "open-loop");
		this.loop.setDaemon(true);
		this.loop.start();
	}

	private void run(List<Connection> pool) {
		ArrayDeque<Connection> free = new ArrayDeque<>(pool);
		long start = System.nanoTime();
		long sent = 0;
		try (Selector selector = Selector.open(); Closer closer = () -> pool.forEach(Connection::close)) {
			while (this.running) {
				long now = System.nanoTime();
				long due = start + sent * this.intervalNanos;
				while (due <= now && !free.isEmpty()) {
					free.poll().send(selector, due, now, free);
					sent++;
					due = start + sent * this.intervalNanos;
				}
				long wait = free.isEmpty() ? TimeUnit.MILLISECONDS.toNanos(100) : due - now;
				if (wait >= TimeUnit.MILLISECONDS.toNanos(2)) {
					selector.select(TimeUnit.NANOSECONDS.toMillis(wait) - 1);
				}
				else {
					if (wait > 0 && selector.selectNow() == 0) {
						LockSupport.parkNanos(wait);
						long late = (System.nanoTime() - due) / 1000;
						if (late >= 0) {
							this.lateness.recordValue(Math.min(late, MAX_LATENCY_MICROS));
						}
					}
					selector.selectNow();
				}
				now = System.nanoTime();
				for (SelectionKey key : selector.selectedKeys()) {
					((Connection) key.attachment()).ready(key, now, free);
				}
				selector.selectedKeys().clear();
				for (Connection connection : pool) {
					connection.expireIfLate(now, free);
				}
			}
		}
		catch (IOException | RuntimeException ex) {
			fail("the load client itself: " + ex);
		}
	}

	/** Closes every connection however the loop ends. */
	private interface Closer extends AutoCloseable {

		@Override
		void close();

	}

	private void fail(String failure) {
		if (this.failed.incrementAndGet() == 1) {
			this.firstFailure = failure;
		}
	}

	/** The latencies of the requests answered since the previous call. */
	Histogram sample() {
		return this.latencies.getIntervalHistogram();
	}

	/**
	 * How late (microseconds) the client's thread woke, since the previous call, each time it
	 * slept until a request was due and no answer woke it first.
	 */
	Histogram sampleLateness() {
		return this.lateness.getIntervalHistogram();
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

	/** CPU time the client's thread has used, in nanoseconds. */
	long cpuNanos() {
		long cpu = ManagementFactory.getThreadMXBean().getThreadCpuTime(this.loop.getId());
		return Math.max(cpu, 0);
	}

	@Override
	public void close() throws InterruptedException {
		this.running = false;
		this.loop.join(TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS + 10));
	}

	/** One keep-alive connection: idle (possibly not yet connected), connecting, or awaiting an answer. */
	private final class Connection {

		private final ByteBuffer in = ByteBuffer.allocate(64 * 1024);

		private final Answer answer = new Answer();

		private SocketChannel channel;

		private SelectionKey key;

		private ByteBuffer out;

		/** When the request in flight was due and when it was sent; 0 when none is. */
		private long due;

		private long sentAt;

		void send(Selector selector, long due, long now, ArrayDeque<Connection> free) {
			this.due = due;
			this.sentAt = now;
			this.answer.reset();
			this.out = ByteBuffer.wrap(OpenLoopLoad.this.request);
			try {
				if (this.channel == null) {
					this.channel = SocketChannel.open();
					this.channel.configureBlocking(false);
					this.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
					boolean connected = this.channel.connect(OpenLoopLoad.this.address);
					this.key = this.channel.register(selector, connected ? 0 : SelectionKey.OP_CONNECT, this);
					this.in.clear();
					if (!connected) {
						return;
					}
				}
				write();
			}
			catch (IOException ex) {
				failed("could not send: " + ex, free);
			}
		}

		private void write() throws IOException {
			this.channel.write(this.out);
			this.key.interestOps(this.out.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ);
		}

		void ready(SelectionKey key, long now, ArrayDeque<Connection> free) {
			try {
				if (key.isConnectable()) {
					this.channel.finishConnect();
					write();
				}
				else if (key.isWritable()) {
					write();
				}
				else if (key.isReadable()) {
					read(now, free);
				}
			}
			catch (IOException ex) {
				if (this.due != 0) {
					failed(String.valueOf(ex), free);
				}
				else {
					close();
				}
			}
		}

		private void read(long now, ArrayDeque<Connection> free) throws IOException {
			int read = this.channel.read(this.in);
			if (this.due == 0) {
				// An idle keep-alive connection the server closed (nothing was lost), or bytes no
				// request asked for: either way it is not used again. It stays in the free ones.
				close();
				return;
			}
			if (read < 0) {
				failed("the server closed the connection before the whole answer", free);
				return;
			}
			this.in.flip();
			if (!this.answer.parse(this.in)) {
				failed("an answer that is not HTTP/1.1: " + this.answer.problem, free);
				return;
			}
			this.in.compact();
			if (!this.answer.complete()) {
				return;
			}
			long latency = (now - ((OpenLoopLoad.this.intervalNanos == 0) ? this.sentAt : this.due)) / 1000;
			this.due = 0;
			if (this.answer.status / 100 == 2) {
				OpenLoopLoad.this.answered.incrementAndGet();
				OpenLoopLoad.this.latencies.recordValue(Math.min(Math.max(latency, 0), MAX_LATENCY_MICROS));
			}
			else {
				fail("HTTP " + this.answer.status);
			}
			if (this.answer.close) {
				close();
			}
			free.add(this);
		}

		void expireIfLate(long now, ArrayDeque<Connection> free) {
			if (this.due != 0 && now - this.sentAt > TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS)) {
				failed("no answer within " + TIMEOUT_SECONDS + " s", free);
			}
		}

		private void failed(String failure, ArrayDeque<Connection> free) {
			fail(failure);
			this.due = 0;
			close();
			free.add(this);
		}

		void close() {
			if (this.channel != null) {
				try {
					this.channel.close();
				}
				catch (IOException ex) {
					// gone already
				}
			}
			this.channel = null;
			this.key = null;
			this.in.clear();
		}

	}

	/**
	 * The answer being read on a connection: the status line and headers, then a body of
	 * {@code Content-Length} bytes or in chunks; the bytes are counted, not kept.
	 */
	static final class Answer {

		private final StringBuilder line = new StringBuilder();

		int status;

		boolean close;

		String problem;

		private boolean headersDone;

		private boolean chunked;

		/** Body bytes still to skip; in chunked mode, of the current chunk. */
		private long remaining;

		private boolean done;

		/** In chunked mode: skipping the CRLF after a chunk, or reading the trailer. */
		private boolean afterChunk;

		private boolean trailer;

		void reset() {
			this.line.setLength(0);
			this.status = 0;
			this.close = false;
			this.problem = null;
			this.headersDone = false;
			this.chunked = false;
			this.remaining = -1;
			this.done = false;
			this.afterChunk = false;
			this.trailer = false;
		}

		boolean complete() {
			return this.done;
		}

		/** Consumes what it can of {@code bytes}; {@code false} for an answer that is not HTTP/1.x. */
		boolean parse(ByteBuffer bytes) {
			while (bytes.hasRemaining() && !this.done) {
				if (this.headersDone && !this.chunked) {
					int skip = (int) Math.min(this.remaining, bytes.remaining());
					bytes.position(bytes.position() + skip);
					this.remaining -= skip;
					this.done = this.remaining == 0;
				}
				else if (this.headersDone && this.remaining > 0) {
					int skip = (int) Math.min(this.remaining, bytes.remaining());
					bytes.position(bytes.position() + skip);
					this.remaining -= skip;
					this.afterChunk = this.remaining == 0;
				}
				else {
					char c = (char) (bytes.get() & 0xff);
					if (c != '\n') {
						if (c != '\r') {
							this.line.append(c);
						}
						continue;
					}
					String text = this.line.toString();
					this.line.setLength(0);
					if (!(this.headersDone ? chunkLine(text) : headerLine(text))) {
						return false;
					}
				}
			}
			return true;
		}

		private boolean headerLine(String text) {
			if (this.status == 0) {
				if (!text.startsWith("HTTP/1.") || text.length() < 12) {
					return fail("status line '" + text + "'");
				}
				try {
					this.status = Integer.parseInt(text.substring(9, 12));
				}
				catch (NumberFormatException ex) {
					return fail("status line '" + text + "'");
				}
				return true;
			}
			if (text.isEmpty()) {
				this.headersDone = true;
				if (this.chunked) {
					this.remaining = -1; // chunked wins over a Content-Length (RFC 9112, 6.3)
				}
				else {
					if (this.remaining < 0) {
						return fail("no Content-Length and not chunked");
					}
					this.done = this.remaining == 0;
				}
				return true;
			}
			int colon = text.indexOf(':');
			String name = text.substring(0, Math.max(colon, 0)).trim().toLowerCase(Locale.ROOT);
			String value = text.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
			switch (name) {
				case "content-length" -> {
					try {
						this.remaining = Long.parseLong(value);
					}
					catch (NumberFormatException ex) {
						return fail("Content-Length '" + value + "'");
					}
				}
				case "transfer-encoding" -> this.chunked = value.contains("chunked");
				case "connection" -> this.close = value.contains("close");
				default -> {
				}
			}
			return true;
		}

		private boolean chunkLine(String text) {
			if (this.afterChunk) {
				this.afterChunk = false;
				return text.isEmpty() || fail("chunk not followed by CRLF");
			}
			if (this.trailer) {
				this.done = text.isEmpty();
				return true;
			}
			int semicolon = text.indexOf(';');
			long size;
			try {
				size = Long.parseLong((semicolon >= 0 ? text.substring(0, semicolon) : text).trim(), 16);
			}
			catch (NumberFormatException ex) {
				return fail("chunk size '" + text + "'");
			}
			this.remaining = size;
			this.trailer = size == 0;
			return true;
		}

		private boolean fail(String problem) {
			this.problem = problem;
			return false;
		}

	}

}
