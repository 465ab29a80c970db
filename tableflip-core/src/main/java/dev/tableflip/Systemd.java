package dev.tableflip;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
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

	/** The name this library stores its sockets under in systemd's file-descriptor store. */
	static final String STORE_NAME = "tableflip";

	/** The variable that names systemd's notification socket. */
	static final String NOTIFY_SOCKET = "NOTIFY_SOCKET";

	/**
	 * The variable that says the unit has a file-descriptor store, and how large: systemd 254
	 * and later set it from {@code FileDescriptorStoreMax=}; on older versions the unit sets it
	 * itself ({@code Environment=FDSTORE=8}).
	 */
	static final String FDSTORE = "FDSTORE";

	/** The variable systemd sets to the unit's {@code PIDFile=}. */
	static final String PIDFILE = "PIDFILE";

	private final String socket;

	private final boolean fdStore;

	private final Path pidFile;

	private volatile boolean warned;

	private Systemd(String socket, boolean fdStore, Path pidFile) {
		this.socket = socket;
		this.fdStore = fdStore;
		this.pidFile = pidFile;
	}

	/** The notifier for this environment: silent unless {@code NOTIFY_SOCKET} is set. */
	static Systemd from(Map<String, String> environment) {
		String socket = environment.get(NOTIFY_SOCKET);
		int fdStore;
		try {
			fdStore = Integer.parseInt(environment.getOrDefault(FDSTORE, "0").trim());
		}
		catch (NumberFormatException ex) {
			logger.warn("Ignoring {}={}: not a number of descriptors", FDSTORE, environment.get(FDSTORE));
			fdStore = 0;
		}
		String pidFile = environment.get(PIDFILE);
		return new Systemd((socket == null || socket.isBlank()) ? null : socket, fdStore > 0,
				(pidFile == null || pidFile.isBlank()) ? null : Path.of(pidFile));
	}

	/** Whether the process runs under systemd as a unit that hears from it or follows its PID file. */
	boolean inUse() {
		return this.socket != null || this.pidFile != null;
	}

	/**
	 * Warns when a notify unit's {@code PIDFile=} is the PID file the application writes
	 * ({@code tableflip.pid-file}): the two follow different rules.
	 */
	void checkPidFile(Path applicationPidFile) {
		if (this.socket != null && this.pidFile != null && applicationPidFile != null
				&& this.pidFile.toAbsolutePath().normalize().equals(applicationPidFile.toAbsolutePath().normalize())) {
			logger.warn("The unit's PIDFile= ({}={}) is also this application's PID file: in a Type=notify unit give "
					+ "PIDFile= a file of its own. tableflip names the new process there while it gets ready, so "
					+ "that systemd follows it if the old process dies; the application's PID file names the process "
					+ "that serves", PIDFILE, this.pidFile);
		}
	}

	/** Whether systemd hears from this process: a {@code Type=notify} or {@code Type=notify-reload} unit. */
	boolean notifies() {
		return this.socket != null;
	}

	/**
	 * Names the process systemd should take for the unit's main process if the main process
	 * dies: the unit's {@code PIDFile=}, which systemd reads again when its main process exits
	 * (and after each {@code ExecReload=} command), and if the file names another live process
	 * of the unit, makes that one the main process and keeps the unit running. The main process
	 * names itself, and while a new process it handed the sockets to gets ready, that one: a
	 * crash of the old process then leaves the new one serving as the main process instead of
	 * stopping the unit. Does nothing without a {@code PIDFile=}.
	 * @return whether the file names {@code pid} now
	 */
	boolean follow(long pid) {
		if (this.pidFile == null) {
			return false;
		}
		try {
			PidFile.write(this.pidFile, pid);
			logger.debug("Wrote {} into the unit's PID file {}", pid, this.pidFile);
			return true;
		}
		catch (IOException | RuntimeException ex) {
			logger.warn("Cannot write {} into the unit's PID file {} (PIDFile=, {}): {}; if the main process dies "
					+ "during an upgrade, systemd stops the unit", pid, this.pidFile, PIDFILE, ex.getMessage());
			return false;
		}
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

	/**
	 * Hands a descriptor to the unit's file-descriptor store ({@code FDSTORE=1}), where the unit
	 * has one ({@code FileDescriptorStoreMax=}): systemd then keeps the socket open when the
	 * main process dies and passes it to the next one ({@code LISTEN_FDS}, under
	 * {@code name}). systemd keeps one copy of each socket however often it is stored. Only
	 * where {@code FDSTORE} says the unit has a store: without one systemd logs a warning for
	 * every stored descriptor.
	 */
	void store(int fd, String name) {
		if (this.socket == null || !this.fdStore) {
			return;
		}
		String message = "FDSTORE=1\nFDNAME=" + name;
		try {
			Native.sendDatagram(this.socket, message.getBytes(StandardCharsets.UTF_8), fd);
			logger.debug("Told systemd: {} (descriptor {})", message.replace('\n', ' '), fd);
		}
		catch (IOException | RuntimeException ex) {
			logger.warn("Cannot store descriptor {} with systemd at {}={}: {}", fd, NOTIFY_SOCKET, this.socket,
					ex.getMessage());
		}
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
