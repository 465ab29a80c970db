package dev.tableflip.spring.boot.reactor.netty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

import dev.tableflip.Fds;
import dev.tableflip.spring.boot.Intake;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import reactor.core.publisher.Mono;
import reactor.netty.resources.LoopResources;

/**
 * Reactor Netty's loop resources, except that the server channel is built around the
 * listener tableflip hands over instead of a new socket: a {@code NioServerSocketChannel} on
 * NIO, an {@code EpollServerSocketChannel} on epoll, each around a duplicate of the
 * listener's descriptor, so that Netty owns and closes its own while the registry keeps its. The listener is already bound, so the bind Reactor Netty then
 * issues is answered at the head of the pipeline and never reaches the socket.
 */
class AdoptingLoopResources implements LoopResources {

	private static final String EPOLL_SERVER_CHANNEL = "io.netty.channel.epoll.EpollServerSocketChannel";

	private final LoopResources delegate;

	private final Supplier<ServerSocketChannel> listener;

	/** Told about each server channel created around the listener, to close it on drain. */
	private final Consumer<Channel> adopted;

	/** When the server channel may accept. */
	private final Intake intake;

	AdoptingLoopResources(LoopResources delegate, Supplier<ServerSocketChannel> listener, Consumer<Channel> adopted,
			Intake intake) {
		this.delegate = delegate;
		this.listener = listener;
		this.adopted = adopted;
		this.intake = intake;
	}

	@Override
	@SuppressWarnings("unchecked")
	public <CHANNEL extends Channel> CHANNEL onChannel(Class<CHANNEL> channelType, EventLoopGroup group) {
		if (channelType != io.netty.channel.socket.ServerSocketChannel.class) {
			return this.delegate.onChannel(channelType, group);
		}
		Class<? extends CHANNEL> transport = this.delegate.onChannelClass(channelType, group);
		Channel channel = adopt(transport, this.listener.get());
		channel.pipeline().addFirst("tableflip.alreadyBound", new AlreadyBound());
		IntakeGate gate = new IntakeGate(this.intake);
		if (!this.intake.isSettled()) {
			// Not ready yet: leave connections in the shared queue, for the old process.
			channel.config().setAutoRead(false);
			channel.pipeline().addFirst("tableflip.intake", gate);
		}
		// In the old process, during the overlap: leave the new process its turns.
		this.intake.onUnsettled(() -> channel.eventLoop().execute(() -> gate.follow(channel)));
		this.adopted.accept(channel);
		return (CHANNEL) channel;
	}

	private static Channel adopt(Class<?> transport, ServerSocketChannel listener) {
		if (NioServerSocketChannel.class.isAssignableFrom(transport)) {
			try {
				return new NioServerSocketChannel(Fds.duplicateListener(listener));
			}
			catch (IOException ex) {
				throw new UncheckedIOException(ex);
			}
		}
		if (transport.getName().equals(EPOLL_SERVER_CHANNEL)) {
			try {
				return (Channel) transport.getConstructor(int.class).newInstance(Fds.duplicate(listener));
			}
			catch (IOException ex) {
				throw new UncheckedIOException(ex);
			}
			catch (ReflectiveOperationException ex) {
				throw new IllegalStateException("cannot build an epoll server channel around the inherited listener",
						ex);
			}
		}
		throw new IllegalStateException("tableflip can hand listeners to Reactor Netty on the NIO and epoll "
				+ "transports, not on " + transport.getName() + "; disable that transport (for io_uring: "
				+ "-Dreactor.netty.ioUring=false) or set -Dreactor.netty.native=false");
	}

	/** Answers the bind of an already bound listener without touching the socket. */
	private static final class AlreadyBound extends ChannelOutboundHandlerAdapter {

		@Override
		public void bind(ChannelHandlerContext ctx, SocketAddress localAddress, ChannelPromise promise) {
			promise.setSuccess();
			ctx.pipeline().remove(this);
		}

	}

	/**
	 * Starts accepting once the gate opens, on the channel's event loop; then, while the intake
	 * takes turns with the other process, turns auto-read on and off with its turns.
	 */
	private static final class IntakeGate extends ChannelInboundHandlerAdapter {

		/** How often the intake is asked again while it is open. */
		private static final long OPEN_CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

		/** The shortest wait between two looks at the intake. */
		private static final long MIN_WAIT_NANOS = TimeUnit.MICROSECONDS.toNanos(200);

		private final Intake intake;

		IntakeGate(Intake intake) {
			this.intake = intake;
		}

		@Override
		public void channelActive(ChannelHandlerContext ctx) {
			ctx.fireChannelActive();
			Channel channel = ctx.channel();
			ctx.pipeline().remove(this);
			follow(channel);
		}

		/** Reads accepts while the intake is open, on the channel's event loop, until it stays open. */
		private void follow(Channel channel) {
			if (!channel.isOpen() || this.intake.isClosed()) {
				return; // draining: auto-read stays as the drain set it
			}
			if (this.intake.isSettled()) {
				channel.config().setAutoRead(true);
				return;
			}
			long closed = this.intake.closedForNanos();
			channel.config().setAutoRead(closed == 0);
			// ask again when the turn changes (while open, also every few ms: the intake may settle meanwhile)
			long next = (closed > 0) ? closed : Math.min(this.intake.openForNanos(), OPEN_CHECK_NANOS);
			channel.eventLoop().schedule(() -> follow(channel), Math.max(next, MIN_WAIT_NANOS), TimeUnit.NANOSECONDS);
		}

	}

	@Override
	public <CHANNEL extends Channel> Class<? extends CHANNEL> onChannelClass(Class<CHANNEL> channelType,
			EventLoopGroup group) {
		return this.delegate.onChannelClass(channelType, group);
	}

	@Override
	public EventLoopGroup onServer(boolean useNative) {
		return this.delegate.onServer(useNative);
	}

	@Override
	public EventLoopGroup onServerSelect(boolean useNative) {
		return this.delegate.onServerSelect(useNative);
	}

	@Override
	public EventLoopGroup onClient(boolean useNative) {
		return this.delegate.onClient(useNative);
	}

	@Override
	public boolean daemon() {
		return this.delegate.daemon();
	}

	@Override
	public void dispose() {
		this.delegate.dispose();
	}

	@Override
	public boolean isDisposed() {
		return this.delegate.isDisposed();
	}

	@Override
	public Mono<Void> disposeLater() {
		return this.delegate.disposeLater();
	}

	@Override
	public Mono<Void> disposeLater(Duration quietPeriod, Duration timeout) {
		return this.delegate.disposeLater(quietPeriod, timeout);
	}

}
