package dev.tableflip.spring.boot.tomcat;

import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Lock;

import dev.tableflip.spring.boot.Intake;
import dev.tableflip.spring.boot.KeepAlive;
import org.apache.coyote.Processor;
import org.apache.coyote.http11.Http11NioProtocol;
import org.apache.coyote.http11.Http11Processor;
import org.apache.coyote.http11.upgrade.UpgradeProcessorInternal;
import org.apache.tomcat.util.net.AbstractEndpoint.Handler;
import org.apache.tomcat.util.net.AbstractEndpoint.Handler.SocketState;
import org.apache.tomcat.util.net.NioChannel;
import org.apache.tomcat.util.net.SocketEvent;
import org.apache.tomcat.util.net.SocketWrapperBase;
import org.jspecify.annotations.Nullable;

/**
 * Tomcat's HTTP/1.1 NIO protocol (HTTP/2 and TLS included, configured as usual) on a
 * listener that tableflip hands it. Installed with
 * {@code TomcatWebServerFactory#setProtocol(String)}.
 *
 * <p>An HTTP/1.1 connection ends at its moment (see {@link KeepAlive}) with a response that says
 * {@code Connection: close}. An HTTP/2 connection has no such response: at its moment it is
 * paused the way Tomcat pauses every connection when the connector pauses, one connection at a
 * time: a {@code GOAWAY} that lets the streams in flight finish, and the client opens its next
 * connection, which the new process accepts. A WebSocket connection is closed at the drain,
 * the way Tomcat closes it when it stops: a close frame with 1001 (going away), the busy ones
 * too, as soon as their thread is done with them.
 */
public class TableflipHttp11NioProtocol extends Http11NioProtocol {

	/** Tomcat's WebSocket upgrade handler (in {@code tomcat-embed-websocket}, there when the application has WebSockets). */
	private static final String WEBSOCKET = "org.apache.tomcat.websocket.server.WsHttpUpgradeHandler";

	/** The connection the current thread serves, for the keep-alive decision. */
	private static final ThreadLocal<SocketWrapperBase<?>> connection = new ThreadLocal<>();

	private volatile @Nullable KeepAlive keepAlive;

	private @Nullable ScheduledFuture<?> goingAway;

	/** Whether the drain asked for the WebSocket connections: from then on, each is closed. */
	private volatile boolean closingWebSockets;

	/**
	 * The WebSocket connections taken to be closed, each once: by the drain's sweep, which closes
	 * them one after another, or by the thread that served one the sweep missed, at once.
	 */
	private final Set<SocketWrapperBase<?>> claimedWebSockets = ConcurrentHashMap.newKeySet();

	public TableflipHttp11NioProtocol() {
		super(new AdoptingNioEndpoint());
		getEndpoint().setHandler(new GoingAwayHandler(getEndpoint().getHandler()));
	}

	/**
	 * Accept from this listener instead of binding one, when {@code intake} lets it (always, if
	 * none), and keep connections alive as {@code keepAlive} says.
	 */
	public void adopt(ServerSocketChannel listener, @Nullable Intake intake, KeepAlive keepAlive) {
		((AdoptingNioEndpoint) getEndpoint()).adopt(listener, intake);
		this.keepAlive = keepAlive;
	}

	@Override
	public void start() throws Exception {
		super.start();
		this.goingAway = getUtilityExecutor().scheduleWithFixedDelay(this::goAwayWhereDue, 100, 100,
				TimeUnit.MILLISECONDS);
	}

	@Override
	public void stop() throws Exception {
		if (this.goingAway != null) {
			this.goingAway.cancel(false);
		}
		super.stop();
	}

	/**
	 * Sends GOAWAY on each idle HTTP/2 connection whose moment came. A connection busy on a
	 * thread at this instant has no current processor here; it is paused when that thread is
	 * done with it ({@link GoingAwayHandler}).
	 */
	private void goAwayWhereDue() {
		for (SocketWrapperBase<?> connection : getEndpoint().getConnections()) {
			goAwayIfDue(connection);
		}
	}

	/**
	 * Pauses the connection's HTTP/2 processor if its moment came (a WebSocket's pause does
	 * nothing), under the connection's lock, which Tomcat holds while it reads the connection's
	 * frames. Without it, a frame read at the same instant could see the pause begun and not yet
	 * timed, and send the final {@code GOAWAY} (the last stream) before the pause's first one
	 * (2^31-1). The last stream id then rises, which HTTP/2 forbids, and Netty's client closes
	 * the connection as a protocol error, with the streams it had in flight.
	 */
	private void goAwayIfDue(SocketWrapperBase<?> connection) {
		KeepAlive keepAlive = this.keepAlive;
		if (keepAlive != null && connection.getCurrentProcessor() instanceof UpgradeProcessorInternal multiplexed
				&& keepAlive.endsConnection(connection)) {
			Lock lock = connection.getLock();
			lock.lock();
			try {
				if (!connection.isClosed()) {
					multiplexed.pause(); // idempotent: GOAWAY once per connection
				}
			}
			finally {
				lock.unlock();
			}
		}
	}

	/**
	 * Each WebSocket connection not taken to be closed before, as the action that closes it the
	 * way Tomcat's poller does when it stops (the {@code STOP} event, dispatched under the
	 * connection's lock): a close frame, 1001 (going away). A connection busy on a thread at
	 * this instant has no current processor here, and a connection still in its handshake is
	 * no WebSocket yet: from now on each WebSocket connection not taken is closed the same way
	 * when a thread is done with it ({@link GoingAwayHandler}). Without that, a session whose
	 * handler was busy when the drain looked was cut without a close frame when the process
	 * exited.
	 */
	public List<Runnable> openWebSockets() {
		this.closingWebSockets = true; // before the sweep: a connection it misses is then seen by its thread
		List<Runnable> closes = new ArrayList<>();
		for (SocketWrapperBase<NioChannel> connection : getEndpoint().getConnections()) {
			if (isWebSocket(connection) && this.claimedWebSockets.add(connection)) {
				closes.add(() -> closeWebSocket(connection));
			}
		}
		return closes;
	}

	/** Closes a WebSocket connection missed by the drain's sweep, once a thread is done with it. */
	private void closeWebSocketIfMissed(SocketWrapperBase<NioChannel> connection) {
		if (this.closingWebSockets && isWebSocket(connection) && this.claimedWebSockets.add(connection)) {
			closeWebSocket(connection);
		}
	}

	/** Closes a WebSocket connection with 1001. */
	private void closeWebSocket(SocketWrapperBase<NioChannel> connection) {
		if (!connection.isClosed()) {
			getEndpoint().processSocket(connection, SocketEvent.STOP, true);
		}
	}

	private static boolean isWebSocket(SocketWrapperBase<?> connection) {
		return connection.getCurrentProcessor() instanceof UpgradeProcessorInternal upgraded
				&& upgraded.getUpgradeToken().getHttpUpgradeHandler().getClass().getName().equals(WEBSOCKET);
	}

	/** Tomcat asks for each request: 1 ends the connection with this response. */
	@Override
	public int getMaxKeepAliveRequests() {
		KeepAlive keepAlive = this.keepAlive;
		SocketWrapperBase<?> current = connection.get();
		return (keepAlive != null && current != null && keepAlive.endsConnection(current)) ? 1
				: super.getMaxKeepAliveRequests();
	}

	@Override
	protected Processor createProcessor() {
		return new Http11Processor(this, getAdapter()) {

			@Override
			public SocketState service(SocketWrapperBase<?> socketWrapper) throws IOException {
				connection.set(socketWrapper);
				try {
					return super.service(socketWrapper);
				}
				finally {
					connection.remove();
				}
			}

		};
	}

	/**
	 * Tomcat's own connection handler, and after each time it served a connection, the
	 * connection's GOAWAY if its moment came, or its close if it is a WebSocket the drain's sweep
	 * missed. Tomcat takes a connection's processor while a thread serves it, so a sweep over
	 * the connections (Tomcat's own pause too) misses a connection busy at that instant, and a
	 * connection busy nearly all the time can be missed until the connector stops and cuts it:
	 * an HTTP/2 connection's streams in flight, a WebSocket session without a close frame.
	 */
	private final class GoingAwayHandler implements Handler<NioChannel> {

		private final Handler<NioChannel> handler;

		GoingAwayHandler(Handler<NioChannel> handler) {
			this.handler = handler;
		}

		@Override
		public SocketState process(SocketWrapperBase<NioChannel> connection, SocketEvent event) {
			SocketState state = this.handler.process(connection, event);
			goAwayIfDue(connection);
			closeWebSocketIfMissed(connection);
			return state;
		}

		@Override
		public Object getGlobal() {
			return this.handler.getGlobal();
		}

		@Override
		public void release(SocketWrapperBase<NioChannel> connection) {
			this.handler.release(connection);
		}

		@Override
		public void pause() {
			this.handler.pause();
		}

		@Override
		public void recycle() {
			this.handler.recycle();
		}

	}

	/** Whether a listener was adopted. */
	public boolean hasListener() {
		return ((AdoptingNioEndpoint) getEndpoint()).hasListener();
	}

}
