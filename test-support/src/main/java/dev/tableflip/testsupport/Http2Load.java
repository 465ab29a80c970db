package dev.tableflip.testsupport;

import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import javax.net.ssl.SSLException;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;

/**
 * A closed-loop HTTP/2 load over real sockets (Netty's HTTP/2 codec): {@code clients} clients,
 * each with one connection and {@code streams} requests in flight on it, each answered request
 * followed at once by the next. Over TLS the connection must negotiate {@code h2} by ALPN; in
 * plain text it speaks h2c with prior knowledge.
 *
 * <p>What a server that goes away may and may not do, by RFC 9113, decides what counts: when
 * a connection receives a {@code GOAWAY}, its client opens a new connection for its next
 * requests and lets the streams in flight finish. A stream the server did not process (an id
 * above the {@code GOAWAY}'s last stream id, or reset with {@code REFUSED_STREAM}) is sent again
 * on the new connection and counted as {@link #retried()}, as any HTTP/2 client does; every
 * other end without a whole response (a reset, a connection closed under a processed stream, a
 * connection that cannot be opened) and every status other than 2xx is a failure, never
 * retried.
 */
public final class Http2Load implements AutoCloseable {

	private final InetSocketAddress address;

	private final String path;

	private final int streams;

	/** How long a stream waits after its request ended before it sends the next. */
	private final long pauseNanos;

	private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

	private final SslContext ssl;

	private final List<Client> clients = new ArrayList<>();

	private volatile boolean running = true;

	private final AtomicLong ok = new AtomicLong();

	private final AtomicLong failed = new AtomicLong();

	private final AtomicLong refused = new AtomicLong();

	private final AtomicLong retried = new AtomicLong();

	private final AtomicLong goAways = new AtomicLong();

	private final AtomicLong connections = new AtomicLong();

	private final AtomicLong inFlight = new AtomicLong();

	private final List<String> failures = new CopyOnWriteArrayList<>();

	/** Answered requests per process, by the pid in the answers. */
	private final Map<Long, AtomicLong> answeredBy = new ConcurrentHashMap<>();

	/** When each GOAWAY came. */
	private final List<Instant> goAwayTimes = new CopyOnWriteArrayList<>();

	public Http2Load(InetSocketAddress address, boolean tls, String path, int clients, int streams) {
		this(address, tls, path, clients, streams, Duration.ZERO);
	}

	/**
	 * A load whose streams each wait {@code pause} after a request ends before they send the
	 * next: requests all the time, but not all of the CPU.
	 */
	public Http2Load(InetSocketAddress address, boolean tls, String path, int clients, int streams, Duration pause) {
		this.pauseNanos = pause.toNanos();
		this.address = address;
		this.path = path;
		this.streams = streams;
		this.ssl = tls ? clientContext() : null;
		for (int i = 0; i < clients; i++) {
			Client client = new Client();
			this.clients.add(client);
			this.group.execute(client::start);
		}
	}

	private static SslContext clientContext() {
		try {
			return SslContextBuilder.forClient()
				.trustManager(InsecureTrustManagerFactory.INSTANCE)
				.applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
						ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
						ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_2))
				.build();
		}
		catch (SSLException ex) {
			throw new IllegalStateException("cannot make the HTTP/2 client's TLS context", ex);
		}
	}

	/** One client: its current connection, and the one it is leaving after a GOAWAY. */
	private final class Client {

		private Connection current;

		void start() {
			this.current = new Connection(this);
			for (int i = 0; i < Http2Load.this.streams; i++) {
				this.current.send();
			}
		}

		/** The connection for the next request: a new one once the current one went away. */
		Connection connection() {
			if (this.current.goingAway || this.current.closed) {
				this.current = new Connection(this);
			}
			return this.current;
		}

	}

	/** One HTTP/2 connection; everything about it runs on the load's event loop. */
	private final class Connection {

		private final Client client;

		private final Channel channel;

		private boolean open;

		private boolean goingAway;

		private boolean closed;

		private int lastStreamId = Integer.MAX_VALUE;

		private int active;

		/** What the server said and did on this connection, for a failure's message. */
		private final List<String> history = new ArrayList<>();

		/** Requests waiting for the connection to open. */
		private final List<Runnable> waiting = new ArrayList<>();

		Connection(Client client) {
			this.client = client;
			Http2Load.this.connections.incrementAndGet();
			this.channel = new Bootstrap().group(Http2Load.this.group)
				.channel(NioSocketChannel.class)
				.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
				.option(ChannelOption.TCP_NODELAY, true)
				.handler(new ChannelInitializer<SocketChannel>() {

					@Override
					protected void initChannel(SocketChannel channel) {
						if (Http2Load.this.ssl != null) {
							channel.pipeline().addLast(Http2Load.this.ssl.newHandler(channel.alloc()));
						}
						channel.pipeline()
							.addLast(Http2FrameCodecBuilder.forClient().build(),
									new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()),
									new ConnectionHandler(Connection.this));
					}

				})
				.connect(Http2Load.this.address)
				.addListener((future) -> {
					if (future.isSuccess()) {
						this.open = true;
						List<Runnable> ready = List.copyOf(this.waiting);
						this.waiting.clear();
						ready.forEach(Runnable::run);
					}
					else {
						connectionFailed(future.cause());
					}
				})
				.channel();
		}

		/** Sends one request on this connection, or on a new one if this one cannot take it. */
		void send() {
			if (!Http2Load.this.running) {
				return;
			}
			if (this.goingAway || this.closed) {
				this.client.connection().send();
				return;
			}
			if (!this.open) {
				this.waiting.add(this::send);
				return;
			}
			this.active++;
			Http2Load.this.inFlight.incrementAndGet();
			Exchange exchange = new Exchange(this, System.nanoTime());
			new Http2StreamChannelBootstrap(this.channel).handler(exchange).open().addListener((future) -> {
				if (future.isSuccess()) {
					Http2StreamChannel stream = (Http2StreamChannel) future.getNow();
					Http2Headers headers = new DefaultHttp2Headers().method("GET")
						.path(Http2Load.this.path)
						.scheme(Http2Load.this.ssl != null ? "https" : "http")
						.authority(Http2Load.this.address.getHostString() + ":" + Http2Load.this.address.getPort());
					stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, true));
				}
				else {
					// no stream was created: the connection went away or closed first, nothing was sent
					exchange.unprocessed();
				}
			});
		}

		void connectionFailed(Throwable cause) {
			this.closed = true;
			int lost = this.waiting.size();
			this.waiting.clear();
			for (int i = 0; i < lost; i++) {
				fail("connect: " + cause);
			}
			if (cause instanceof ConnectException) {
				Http2Load.this.refused.addAndGet(lost);
			}
			// each request that could not be sent is followed by the next, as a closed-loop client's are
			Http2Load.this.group.schedule(() -> {
				for (int i = 0; i < lost; i++) {
					this.client.connection().send();
				}
			}, 10, TimeUnit.MILLISECONDS);
		}

		/** A request of this connection ended; a connection that went away closes when none is left. */
		void ended() {
			this.active--;
			Http2Load.this.inFlight.decrementAndGet();
			if (this.goingAway && this.active == 0) {
				this.channel.close();
			}
		}

	}

	/** The connection's own events: the TLS handshake's protocol, GOAWAY, its end. */
	private final class ConnectionHandler extends ChannelInboundHandlerAdapter {

		private final Connection connection;

		ConnectionHandler(Connection connection) {
			this.connection = connection;
		}

		@Override
		public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
			if (event instanceof SslHandshakeCompletionEvent completion && completion.isSuccess()) {
				String protocol = ctx.pipeline().get(SslHandler.class).applicationProtocol();
				if (!ApplicationProtocolNames.HTTP_2.equals(protocol)) {
					fail("the server negotiated " + protocol + ", not h2");
					ctx.close();
				}
			}
			super.userEventTriggered(ctx, event);
		}

		@Override
		public void channelRead(ChannelHandlerContext ctx, Object message) {
			if (message instanceof Http2GoAwayFrame goAway) {
				this.connection.history.add(Instant.now() + " GOAWAY last stream " + goAway.lastStreamId()
						+ " with " + this.connection.active + " request(s) in flight");
				Http2Load.this.goAways.incrementAndGet();
				Http2Load.this.goAwayTimes.add(Instant.now());
				this.connection.lastStreamId = Math.min(this.connection.lastStreamId, goAway.lastStreamId());
				this.connection.goingAway = true;
				if (goAway.errorCode() != Http2Error.NO_ERROR.code()) {
					fail("GOAWAY with error " + goAway.errorCode());
				}
				if (this.connection.active == 0) {
					ctx.close();
				}
			}
			ReferenceCountUtil.release(message);
		}

		@Override
		public void channelInactive(ChannelHandlerContext ctx) {
			this.connection.history.add(Instant.now() + " closed with " + this.connection.active
					+ " request(s) in flight");
			this.connection.closed = true;
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			ctx.close();
		}

	}

	/** One request and its response, on its own stream. */
	private final class Exchange extends ChannelInboundHandlerAdapter {

		private final Connection connection;

		private final long started;

		private int status;

		private final StringBuilder body = new StringBuilder();

		private boolean ended;

		Exchange(Connection connection, long started) {
			this.connection = connection;
			this.started = started;
		}

		@Override
		public void channelRead(ChannelHandlerContext ctx, Object message) {
			try {
				if (message instanceof Http2HeadersFrame headers) {
					if (headers.headers().status() != null && this.status == 0) {
						this.status = Integer.parseInt(headers.headers().status().toString());
					}
					if (headers.isEndStream()) {
						answered(ctx);
					}
				}
				else if (message instanceof Http2DataFrame data) {
					ByteBuf content = data.content();
					this.body.append(content.toString(StandardCharsets.UTF_8));
					if (data.isEndStream()) {
						answered(ctx);
					}
				}
				else if (message instanceof Http2ResetFrame reset && !this.ended) {
					if (reset.errorCode() == Http2Error.REFUSED_STREAM.code()) {
						unprocessed();
					}
					else {
						end();
						fail("stream reset with error " + reset.errorCode());
					}
				}
			}
			finally {
				ReferenceCountUtil.release(message);
			}
		}

		@Override
		public void channelInactive(ChannelHandlerContext ctx) {
			if (this.ended) {
				return;
			}
			int id = ((Http2StreamChannel) ctx.channel()).stream().id();
			if (id < 0 || id > this.connection.lastStreamId) {
				unprocessed(); // never sent, or above the last stream the server processed
			}
			else {
				end();
				fail("stream " + id + " closed before the whole response"
						+ (this.connection.goingAway ? " (last stream " + this.connection.lastStreamId + ")" : "")
						+ "; its connection " + (this.connection.channel.isActive() ? "open" : "closed") + ": "
						+ this.connection.history);
			}
		}

		private void answered(ChannelHandlerContext ctx) {
			end();
			if (this.status / 100 == 2) {
				Http2Load.this.ok.incrementAndGet();
				Http2Load.this.answeredBy.computeIfAbsent(HttpLoad.pidOf(this.body.toString()), (pid) -> new AtomicLong())
					.incrementAndGet();
			}
			else {
				fail("HTTP " + this.status);
			}
			ctx.close();
		}

		/** The server did not process this request: send it again, on a new connection if need be. */
		void unprocessed() {
			if (this.ended) {
				return;
			}
			end();
			Http2Load.this.retried.incrementAndGet();
		}

		private void end() {
			this.ended = true;
			this.connection.ended();
			Client client = this.connection.client;
			if (Http2Load.this.pauseNanos > 0) {
				Http2Load.this.group.schedule(() -> client.connection().send(), Http2Load.this.pauseNanos,
						TimeUnit.NANOSECONDS);
			}
			else {
				client.connection().send();
			}
		}

	}

	private void fail(String failure) {
		this.failed.incrementAndGet();
		if (this.failures.size() < 50) {
			this.failures.add(Instant.now() + " " + failure);
		}
	}

	/** Requests answered 2xx. */
	public long ok() {
		return this.ok.get();
	}

	/** Requests that failed: see the class's description. */
	public long failed() {
		return this.failed.get();
	}

	/** Requests the server did not process (after a GOAWAY, or refused), sent again. */
	public long retried() {
		return this.retried.get();
	}

	/** GOAWAY frames received. */
	public long goAways() {
		return this.goAways.get();
	}

	/** How many GOAWAY frames came after {@code from} and before {@code to}. */
	public long goAwaysBetween(Instant from, Instant to) {
		return this.goAwayTimes.stream().filter((time) -> time.isAfter(from) && time.isBefore(to)).count();
	}

	/** The processes that answered. */
	public Set<Long> pids() {
		return Set.copyOf(this.answeredBy.keySet());
	}

	public String summary() {
		return String.format(
				"HTTP/2 %d ok / %d failed (%d refused), %d not processed and sent again, %d GOAWAY, %d connections, answered by %s%s",
				ok(), failed(), this.refused.get(), retried(), goAways(), this.connections.get(), this.answeredBy,
				this.failures.isEmpty() ? "" : "\nfirst failures: " + this.failures);
	}

	/** Stops sending, waits for the requests in flight, and closes every connection. */
	@Override
	public void close() throws InterruptedException {
		this.running = false;
		long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
		while (this.inFlight.get() > 0 && System.nanoTime() < deadline) {
			Thread.sleep(10);
		}
		if (this.inFlight.get() > 0) {
			fail(this.inFlight.get() + " request(s) still unanswered 30 s after the load stopped");
		}
		this.group.shutdownGracefully(0, 5, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS);
	}

}
