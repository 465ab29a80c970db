package dev.tableflip;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Stream;

import dev.tableflip.UpgradeException.Reason;

/**
 * What is checked before a new process is started, so that an upgrade that cannot work is
 * refused with a reason instead of failing halfway: the command can be run (its executable,
 * and the jar after {@code -jar}), a second JVM fits in the memory left (under the cgroup's
 * limit, and on the machine), and this process has descriptors to spare for the handoff.
 * Linux files are read where they exist; a check whose files are missing passes.
 */
final class Preflight {

	/** Descriptors the handoff opens in this process: the rendezvous socket, the connection, and slack. */
	static final int HANDOFF_DESCRIPTORS = 8;

	private final Path proc;

	private final Path cgroupRoot;

	Preflight(Path proc, Path cgroupRoot) {
		this.proc = proc;
		this.cgroupRoot = cgroupRoot;
	}

	static Preflight linux() {
		return new Preflight(Path.of("/proc"), Path.of("/sys/fs/cgroup"));
	}

	/** The first reason not to start {@code command} in {@code directory}, or {@code null}. */
	UpgradeException check(List<String> command, Path directory) {
		UpgradeException refusal = command(command, directory);
		if (refusal == null) {
			refusal = memory();
		}
		if (refusal == null) {
			refusal = descriptors();
		}
		return refusal;
	}

	UpgradeException command(List<String> command, Path directory) {
		if (command.isEmpty()) {
			return new UpgradeException(Reason.COMMAND_NOT_RUNNABLE, "the command to start the new process is empty");
		}
		String executable = command.get(0);
		if (!runnable(executable, directory)) {
			return new UpgradeException(Reason.COMMAND_NOT_RUNNABLE, "cannot run " + executable
					+ ": no such executable file" + (executable.contains("/") ? "" : " on the PATH"));
		}
		int jar = command.indexOf("-jar");
		if (jar >= 0 && jar + 1 < command.size()) {
			Path path = directory.resolve(command.get(jar + 1));
			if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
				return new UpgradeException(Reason.COMMAND_NOT_RUNNABLE,
						"the new process's jar " + path + " is missing or not readable: deploy it before upgrading");
			}
		}
		return null;
	}

	private static boolean runnable(String executable, Path directory) {
		if (executable.contains("/")) {
			Path path = directory.resolve(executable);
			return Files.isRegularFile(path) && Files.isExecutable(path);
		}
		String search = System.getenv().getOrDefault("PATH", "");
		return Stream.of(search.split(":"))
			.filter((dir) -> !dir.isEmpty())
			.map((dir) -> Path.of(dir, executable))
			.anyMatch((path) -> Files.isRegularFile(path) && Files.isExecutable(path));
	}

	/**
	 * A second JVM needs about as much memory as this one: refused if the cgroup's limit, or the
	 * machine's available memory, leaves less than this process's resident size.
	 */
	UpgradeException memory() {
		OptionalLong resident = statusKilobytes("VmRSS");
		if (resident.isEmpty()) {
			return null;
		}
		long needed = resident.getAsLong() * 1024;
		OptionalLong headroom = cgroupHeadroom();
		if (headroom.isPresent() && headroom.getAsLong() < needed) {
			return new UpgradeException(Reason.NOT_ENOUGH_MEMORY, "the new process would need about " + mib(needed)
					+ " (this process's resident size) but the cgroup's memory limit leaves " + mib(headroom.getAsLong())
					+ ": raise the limit (systemd: MemoryMax=, containers: the memory limit) to hold two processes");
		}
		OptionalLong available = meminfoKilobytes("MemAvailable");
		if (available.isPresent() && available.getAsLong() * 1024 < needed) {
			return new UpgradeException(Reason.NOT_ENOUGH_MEMORY, "the new process would need about " + mib(needed)
					+ " (this process's resident size) but the machine has " + mib(available.getAsLong() * 1024)
					+ " available");
		}
		return null;
	}

	/** Bytes left under this process's cgroup memory limit (v2, or v1), if it has one. */
	OptionalLong cgroupHeadroom() {
		try {
			for (String line : Files.readAllLines(this.proc.resolve("self/cgroup"))) {
				if (line.startsWith("0::")) { // cgroup v2
					Path group = this.cgroupRoot.resolve(line.substring(3).replaceFirst("^/", ""));
					return headroom(group.resolve("memory.max"), group.resolve("memory.current"),
							group.resolve("memory.stat"), "inactive_file");
				}
			}
			Path v1 = this.cgroupRoot.resolve("memory");
			return headroom(v1.resolve("memory.limit_in_bytes"), v1.resolve("memory.usage_in_bytes"),
					v1.resolve("memory.stat"), "total_inactive_file");
		}
		catch (IOException | RuntimeException ex) {
			return OptionalLong.empty();
		}
	}

	/** The limit less the usage, the usage without the page cache the kernel can drop at once. */
	private static OptionalLong headroom(Path limitFile, Path usageFile, Path statFile, String reclaimable)
			throws IOException {
		if (!Files.isReadable(limitFile) || !Files.isReadable(usageFile)) {
			return OptionalLong.empty();
		}
		String limit = Files.readString(limitFile).trim();
		if (limit.equals("max") || limit.length() >= 19) { // v1 says "no limit" with a huge number
			return OptionalLong.empty();
		}
		long usage = Long.parseLong(Files.readString(usageFile).trim());
		if (Files.isReadable(statFile)) {
			for (String line : Files.readAllLines(statFile)) {
				if (line.startsWith(reclaimable + " ")) {
					usage -= Long.parseLong(line.substring(reclaimable.length() + 1).trim());
				}
			}
		}
		return OptionalLong.of(Long.parseLong(limit) - usage);
	}

	/** Refused if the handoff's few descriptors would reach this process's limit. */
	UpgradeException descriptors() {
		OptionalLong limit = openFilesLimit();
		String[] open = this.proc.resolve("self/fd").toFile().list();
		if (limit.isEmpty() || open == null) {
			return null;
		}
		if (open.length + HANDOFF_DESCRIPTORS > limit.getAsLong()) {
			return new UpgradeException(Reason.TOO_MANY_OPEN_FILES, "this process has " + open.length + " of its "
					+ limit.getAsLong() + " descriptors open and the handoff needs " + HANDOFF_DESCRIPTORS
					+ " more: raise the limit (systemd: LimitNOFILE=, shell: ulimit -n)");
		}
		return null;
	}

	private OptionalLong openFilesLimit() {
		try {
			for (String line : Files.readAllLines(this.proc.resolve("self/limits"))) {
				if (line.startsWith("Max open files")) {
					String soft = line.substring("Max open files".length()).trim().split("\\s+")[0];
					return soft.equals("unlimited") ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(soft));
				}
			}
		}
		catch (IOException | RuntimeException ex) {
			// no such file: not Linux
		}
		return OptionalLong.empty();
	}

	private OptionalLong statusKilobytes(String field) {
		return kilobytes(this.proc.resolve("self/status"), field);
	}

	private OptionalLong meminfoKilobytes(String field) {
		return kilobytes(this.proc.resolve("meminfo"), field);
	}

	private static OptionalLong kilobytes(Path file, String field) {
		try {
			for (String line : Files.readAllLines(file)) {
				if (line.startsWith(field + ":")) {
					return OptionalLong.of(Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]));
				}
			}
		}
		catch (IOException | RuntimeException ex) {
			// no such file: not Linux
		}
		return OptionalLong.empty();
	}

	private static String mib(long bytes) {
		return (bytes / (1024 * 1024)) + " MiB";
	}

}
