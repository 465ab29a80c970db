package dev.tableflip.spring.boot.jetty;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.util.EventListener;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import dev.tableflip.spring.boot.Intake;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.jspecify.annotations.Nullable;

/**
 * A Jetty connector that accepts from a listener tableflip gives it (inherited from the old
 * process, or bound by tableflip) instead of binding its own. It takes the place of the
 * connector Spring Boot built, with the same settings and the same connection factories.
 *
 * <p>In a process started by an upgrade it accepts nothing until the process is ready, and
 * then only part of the time during the overlap ({@link Intake}): its acceptor threads wait
 * before calling {@code accept()}, so connections stay in the shared queue for the old process.
 *
 * <p>When tableflip closes this process's copy of the listener during a drain, a blocked
 * {@code accept()} fails; the acceptor then waits for the connector to stop accepting or to
 * shut down, instead of reporting a failure every second.
 */
class AdoptingServerConnector extends ServerConnector {

	private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

	private final ServerSocketChannel listener;

	private final Intake intake;

	AdoptingServerConnector(ServerConnector original, ServerSocketChannel listener, Intake intake) {
		// Only what the original connector owns is passed on: the server's own thread pool,
		// scheduler and buffer pool, passed explicitly, would be started and stopped by this connector.
		super(original.getServer(), owned(original.getExecutor(), original.getServer().getThreadPool()),
				owned(original.getScheduler(), original.getServer().getScheduler()),
				owned(original.getByteBufferPool(), original.getServer().getByteBufferPool()), acceptors(original),
				original.getSelectorManager().getSelectorCount(),
				original.getConnectionFactories().toArray(ConnectionFactory[]::new));
		this.listener = listener;
		this.intake = intake;
		setDefaultProtocol(original.getDefaultProtocol());
		setName(original.getName());
		setHost(original.getHost());
		setPort(original.getPort());
		setIdleTimeout(original.getIdleTimeout());
		setShutdownIdleTimeout(original.getShutdownIdleTimeout());
		setAcceptorPriorityDelta(original.getAcceptorPriorityDelta());
		setAcceptQueueSize(original.getAcceptQueueSize());
		setAcceptedTcpNoDelay(original.getAcceptedTcpNoDelay());
		setAcceptedReceiveBufferSize(original.getAcceptedReceiveBufferSize());
		setAcceptedSendBufferSize(original.getAcceptedSendBufferSize());
		for (EventListener eventListener : original.getEventListeners()) {
			addEventListener(eventListener);
		}
	}

	private static <T> @Nullable T owned(T connectors, T servers) {
		return (connectors == servers) ? null : connectors;
	}

	private static int acceptors(ServerConnector original) {
		if (original.getAcceptors() == 0) {
			// With no acceptor thread Jetty accepts on its selectors, and turning accepting off
			// and on closes and reopens the selector's hold on the listener: not for a shared socket.
			throw new IllegalStateException("tableflip needs at least one Jetty acceptor thread to hand over the "
					+ "listener on port " + original.getPort() + ", but server.jetty.threads.acceptors is 0");
		}
		return original.getAcceptors();
	}

	/** The listener tableflip hands over, instead of a new one; Jetty makes it blocking. */
	@Override
	protected ServerSocketChannel openAcceptChannel() {
		return this.listener;
	}

	@Override
	public void accept(int acceptorID) throws IOException {
		long closed;
		while ((closed = closedForNanos()) > 0) {
			// Not ready yet, not this part of the overlap, or draining: the shared queue is the other process's.
			if (!mayAccept()) {
				return;
			}
			LockSupport.parkNanos(Math.min(closed, MAX_PARK_NANOS));
		}
		// Jetty interrupts its acceptors only to stop them, and an interrupted accept() closes the listener.
		if (Thread.interrupted() || !mayAccept()) {
			return;
		}
		try {
			super.accept(acceptorID);
		}
		catch (ClosedChannelException ex) {
			if (this.listener.isOpen()) {
				throw ex;
			}
		}
		if (!this.listener.isOpen()) {
			// Handed over: the new process accepts from now on. Idle until Jetty stops accepting.
			while (mayAccept() && !Thread.currentThread().isInterrupted()) {
				LockSupport.parkNanos(MAX_PARK_NANOS);
			}
		}
	}

	private long closedForNanos() {
		return this.intake.isClosed() ? MAX_PARK_NANOS : this.intake.closedForNanos();
	}

	private boolean mayAccept() {
		return isRunning() && !isShutdown() && isAccepting();
	}

}
