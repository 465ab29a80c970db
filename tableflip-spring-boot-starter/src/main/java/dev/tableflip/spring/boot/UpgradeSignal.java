package dev.tableflip.spring.boot;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Turns a signal (SIGHUP by default, as systemd's {@code ExecReload=/bin/kill -HUP $MAINPID}
 * sends) into an upgrade, replacing the JVM's default of exiting on it.
 */
public final class UpgradeSignal {

	private static final Log logger = LogFactory.getLog(UpgradeSignal.class);

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
	 * Runs {@code upgrade} on each delivery of the signal, from now on: installed before the
	 * process is ready, so that a signal while it starts is refused (the upgrader is not ready)
	 * rather than left to the JVM, which would exit. Logs, rather than fails, when the handler
	 * cannot work: the endpoint still can upgrade.
	 * @return whether the signal reaches the handler
	 */
	public static boolean install(String name, Runnable upgrade) {
		try {
			SignalHandler previous = Signal.handle(new Signal(name), (signal) -> upgrade.run());
			if (previous == SignalHandler.SIG_IGN) {
				logger.warn("SIG" + name + " is ignored by this process (started under nohup?): the JVM will never "
						+ "deliver it, so 'kill -" + name + "' cannot trigger upgrades. Start the process without "
						+ "nohup, or upgrade through the tableflip actuator endpoint.");
				return false;
			}
			logger.info("SIG" + name + " upgrades process " + ProcessHandle.current().pid()
					+ " once it is ready; until then it is refused");
			return true;
		}
		catch (IllegalArgumentException ex) {
			logger.warn("Cannot handle SIG" + name + " (" + ex.getMessage() + "; the JVM's -Xrs option reserves "
					+ "it): upgrades by signal are off, the tableflip actuator endpoint still works");
			return false;
		}
	}

	/** Says, once the process is ready, how to upgrade it. */
	public static void announce(String name) {
		logger.info("Send SIG" + name + " to process " + ProcessHandle.current().pid() + " to upgrade it");
	}

}
