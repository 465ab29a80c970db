package dev.tableflip.spring.boot.tomcat;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import dev.tableflip.spring.boot.Intake;

import org.apache.tomcat.util.net.NioEndpoint;
import org.jspecify.annotations.Nullable;

/**
 * A Tomcat NIO endpoint that accepts from a listener tableflip gives it (inherited from the
 * old process, or bound by tableflip) instead of binding its own.
 *
 * <p>In a process started by an upgrade it accepts nothing until the process is ready, and
 * then only part of the time during the overlap ({@link Intake}).
 *
 * <p>When tableflip closes this process's copy of the listener during a drain, the acceptor's
 * blocked {@code accept()} fails; the endpoint then simply waits to be paused, instead of
 * failing or waking itself with a connection to its own port, which on a shared socket could
 * reach the new process and leave a real client's connection to be destroyed here.
 */
class AdoptingNioEndpoint extends NioEndpoint {

	private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

	private volatile ServerSocketChannel listener;

	private volatile @Nullable Intake intake;

	void adopt(ServerSocketChannel listener, @Nullable Intake intake) {
		this.listener = listener;
		this.intake = intake;
	}

	boolean hasListener() {
		return this.listener != null;
	}

	@Override
	protected void initServerSocket() throws Exception {
		ServerSocketChannel listener = this.listener;
		if (listener == null) {
			throw new IllegalStateException("tableflip gave this Tomcat connector no listener: it is not the "
					+ "connector of the application's server.port, and tableflip adopts only that one");
		}
		listener.configureBlocking(true); // as NioEndpoint does: one acceptor thread blocks in accept()
	}

	@Override
	protected NetworkChannel getServerSocket() {
		ServerSocketChannel listener = this.listener;
		return (listener != null && listener.isOpen()) ? listener : null;
	}

	@Override
	protected SocketChannel serverSocketAccept() throws Exception {
		ServerSocketChannel listener = this.listener;
		Intake intake = this.intake;
		long closed;
		while (intake != null && (closed = intake.closedForNanos()) > 0) {
			// Not ready yet, or not this part of the overlap: connections in the shared queue go to the old process.
			if (!isRunning() || isPaused()) {
				return null;
			}
			LockSupport.parkNanos(Math.min(closed, MAX_PARK_NANOS));
		}
		try {
			return listener.accept();
		}
		catch (ClosedChannelException ex) {
			if (listener.isOpen()) {
				throw ex;
			}
			// Handed over: the new process accepts from now on. Idle until Tomcat pauses or stops.
			while (isRunning() && !isPaused()) {
				Thread.sleep(50);
			}
			return null;
		}
	}

	@Override
	protected void destroySocket(SocketChannel socket) {
		if (socket == null) {
			countDownConnection(); // the "connection" of an accept that found the listener closed
			return;
		}
		super.destroySocket(socket);
	}

	@Override
	protected void unlockAccept() {
		ServerSocketChannel listener = this.listener;
		if (listener != null && !listener.isOpen()) {
			return; // accept() already failed: nothing to wake, and no dummy connection to a successor
		}
		super.unlockAccept();
	}

	@Override
	protected void doCloseServerSocket() throws IOException {
		ServerSocketChannel listener = this.listener;
		if (listener != null) {
			listener.close();
		}
	}

}
