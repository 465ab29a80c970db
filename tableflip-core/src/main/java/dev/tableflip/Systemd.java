package dev.tableflip;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells systemd what the service is doing ({@code sd_notify}) when it runs as a
 * {@code Type=notify} or {@code Type=notify-reload} unit: the datagrams go to the socket named
 * by {@code NOTIFY_SOCKET}. Without that variable every call does nothing.
 *
 * <p>Only the unit's main process may speak with systemd's default {@code NotifyAccess=main},
 * so the old process says everything about an upgrade, the move of the main pid included,
 * and a new process starts speaking once its parent has exited.
 */
final class Systemd {

	private static final Logger logger = LoggerFactory.getLogger(Systemd.class);

	/** The variable that names systemd's notification socket. */
	static final String NOTIFY_SOCKET = "NOTIFY_SOCKET";

	private final String socket;

	private volatile boolean warned;

	private Systemd(String socket) {
		this.socket = socket;
	}

	/** The notifier for this environment: silent unless {@code NOTIFY_SOCKET} is set. */
	static Systemd from(Map<String, String> environment) {
		String socket = environment.get(NOTIFY_SOCKET);
		return new Systemd((socket == null || socket.isBlank()) ? null : socket);
	}

	/** This process serves: {@code READY=1}. */
	void ready(String status) {
		send("READY=1\nSTATUS=" + status + "\nMAINPID=" + ProcessHandle.current().pid());
	}

	/**
	 * An upgrade starts: {@code RELOADING=1} with the monotonic time systemd wants since 253
	 * ({@code Type=notify-reload}; older versions ignore it).
	 */
	void reloading(String status) {
		send("RELOADING=1\nMONOTONIC_USEC=" + monotonicMicros() + "\nSTATUS=" + status);
	}

	/** More time than the unit's timeout may give: {@code extend} from now. */
	void extend(Duration extend) {
		send("EXTEND_TIMEOUT_USEC=" + TimeUnit.NANOSECONDS.toMicros(extend.toNanos()));
	}

	/** The upgrade succeeded: the new process becomes the unit's main process, and the reload is over. */
	void handedOver(long newPid, String status) {
		send("MAINPID=" + newPid + "\nREADY=1\nSTATUS=" + status);
	}

	/** The upgrade failed or was refused: this process is still the one, and the reload is over. */
	void reloaded(String status) {
		send("READY=1\nSTATUS=" + status);
	}

	/** This process stops for good. */
	void stopping(String status) {
		send("STOPPING=1\nSTATUS=" + status);
	}

	void status(String status) {
		send("STATUS=" + status);
	}

	private void send(String message) {
		if (this.socket == null) {
			return;
		}
		try {
			Native.sendDatagram(this.socket, message.getBytes(StandardCharsets.UTF_8));
			logger.debug("Told systemd: {}", message.replace('\n', ' '));
		}
		catch (IOException | RuntimeException ex) {
			if (!this.warned) {
				this.warned = true;
				logger.warn("Cannot notify systemd at {}={}: {}; the unit's state may be wrong (further failures "
						+ "are logged at debug level)", NOTIFY_SOCKET, this.socket, ex.getMessage());
			}
			else {
				logger.debug("Cannot notify systemd", ex);
			}
		}
	}

	/** {@code CLOCK_MONOTONIC} in microseconds: on Linux, {@code System.nanoTime()} reads that clock. */
	private static long monotonicMicros() {
		return TimeUnit.NANOSECONDS.toMicros(System.nanoTime());
	}

}
