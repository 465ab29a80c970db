package dev.tableflip.spring.boot;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Turns a signal (SIGHUP by default, as systemd's {@code ExecReload=/bin/kill -HUP $MAINPID}
 * sends) into an upgrade, replacing the JVM's default of exiting on it. One handler per JVM,
 * installed as early as the application's configuration is known
 * ({@link dev.tableflip.spring.boot.autoconfigure.UpgradeSignalListener}): until a process
 * life takes the signal ({@link #upgradeWith}), a signal is refused and the process starts on,
 * as tableflip refuses an upgrade before the process is ready.
 */
public final class UpgradeSignal {

	private static final Log logger = LogFactory.getLog(UpgradeSignal.class);

	/** The signal whose handler was installed, or {@code null}; guarded by the class. */
	private static @Nullable String installed;

	/** Whether the handler of {@link #installed} works (the JVM delivers the signal to it). */
	private static boolean works;

	/** What a signal does once a process life took it; {@code null} before. */
	private static volatile @Nullable Runnable upgrade;

	private UpgradeSignal() {
	}

	/** Whether the JVM knows a signal by this name ({@code HUP}, {@code USR2}...). */
	public static boolean exists(String name) {
		try {
			new Signal(name);
			return true;
		}
		catch (IllegalArgumentException ex) {
			return false;
		}
	}

	/**
	 * Installs the handler of the signal, once per JVM: from now on the signal no longer ends the
	 * process; it is refused until {@link #upgradeWith} says what it does. Logs, rather than
	 * fails, when the handler cannot work: the endpoint still can upgrade.
	 * @return whether the signal reaches the handler
	 */
	public static synchronized boolean install(String name) {
		if (name.equals(installed)) {
			return works;
		}
		installed = name;
		works = false;
		try {
			SignalHandler previous = Signal.handle(new Signal(name), (signal) -> delivered(name));
			if (previous == SignalHandler.SIG_IGN) {
				logger.warn("SIG" + name + " is ignored by this process (started under nohup?): the JVM will never "
						+ "deliver it, so 'kill -" + name + "' cannot trigger upgrades. Start the process without "
						+ "nohup, or upgrade through the tableflip actuator endpoint.");
				return false;
			}
			logger.info("SIG" + name + " upgrades process " + ProcessHandle.current().pid()
					+ " once it is ready; until then it is refused");
			works = true;
			return true;
		}
		catch (IllegalArgumentException ex) {
			logger.warn("Cannot handle SIG" + name + " (" + ex.getMessage() + "; the JVM's -Xrs option reserves "
					+ "it): upgrades by signal are off, the tableflip actuator endpoint still works");
			return false;
		}
	}

	/**
	 * From now on the signal runs {@code upgrade} (which refuses until the process is ready);
	 * installs the handler first if it is not in place yet.
	 * @return whether the signal reaches the handler
	 */
	public static boolean upgradeWith(String name, Runnable upgrade) {
		if (!install(name)) {
			return false;
		}
		UpgradeSignal.upgrade = upgrade;
		return true;
	}

	/** Says, once the process is ready, how to upgrade it. */
	public static void announce(String name) {
		logger.info("Send SIG" + name + " to process " + ProcessHandle.current().pid() + " to upgrade it");
	}

	private static void delivered(String name) {
		Runnable upgrade = UpgradeSignal.upgrade;
		if (upgrade == null) {
			logger.info("Upgrade refused (NOT_READY): process " + ProcessHandle.current().pid()
					+ " is starting (SIG" + name + ")");
			return;
		}
		upgrade.run();
	}

}
