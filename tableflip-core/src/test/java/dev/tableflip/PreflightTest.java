package dev.tableflip;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import dev.tableflip.UpgradeException.Reason;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The checks before a new process is started. The command checks run against real files; the
 * memory and descriptor checks read files laid out as Linux lays out {@code /proc} and
 * {@code /sys/fs/cgroup}, with the numbers of a machine that is short of room.
 */
class PreflightTest {

	@TempDir
	Path directory;

	private final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

	@Test
	void thisJvmsOwnCommandPassesEveryCheckHere() {
		assertThat(Preflight.linux().check(Command.current(), Path.of(System.getProperty("user.dir")))).isNull();
	}

	@Test
	void missingJarIsRefusedBeforeAnyProcessStarts() throws IOException {
		Preflight preflight = Preflight.linux();
		UpgradeException refusal = preflight.command(List.of(this.java, "-jar", "app.jar"), this.directory);
		assertThat(refusal.reason()).isEqualTo(Reason.COMMAND_NOT_RUNNABLE);
		assertThat(refusal).hasMessageContaining(this.directory.resolve("app.jar").toString())
			.hasMessageContaining("deploy it before upgrading");

		Files.writeString(this.directory.resolve("app.jar"), "PK");
		assertThat(preflight.command(List.of(this.java, "-jar", "app.jar"), this.directory)).isNull();
	}

	@Test
	void missingExecutableIsRefused() {
		UpgradeException refusal = Preflight.linux()
			.command(List.of("no-such-java-launcher", "-version"), this.directory);
		assertThat(refusal.reason()).isEqualTo(Reason.COMMAND_NOT_RUNNABLE);
		assertThat(refusal).hasMessageContaining("cannot run no-such-java-launcher: no such executable file on the PATH");
	}

	@Test
	void secondJvmThatDoesNotFitUnderTheCgroupLimitIsRefused() throws IOException {
		Path proc = proc("0::/system.slice/app.service\n", 300_000, 1_000_000);
		Path group = Files.createDirectories(this.directory.resolve("cgroup/system.slice/app.service"));
		Files.writeString(group.resolve("memory.max"), "536870912\n"); // 512 MiB
		Files.writeString(group.resolve("memory.current"), "419430400\n"); // 400 MiB
		Files.writeString(group.resolve("memory.stat"), "anon 300000000\ninactive_file 20971520\n"); // 20 MiB cache

		UpgradeException refusal = new Preflight(proc, this.directory.resolve("cgroup")).memory();

		assertThat(refusal.reason()).isEqualTo(Reason.NOT_ENOUGH_MEMORY);
		assertThat(refusal).hasMessageContaining("about 292 MiB").hasMessageContaining("leaves 132 MiB")
			.hasMessageContaining("MemoryMax=");

		Files.writeString(group.resolve("memory.max"), "max\n");
		assertThat(new Preflight(proc, this.directory.resolve("cgroup")).memory()).isNull();
	}

	@Test
	void secondJvmThatDoesNotFitInTheMachinesAvailableMemoryIsRefused() throws IOException {
		Path proc = proc("0::/\n", 300_000, 200_000);
		UpgradeException refusal = new Preflight(proc, this.directory.resolve("no-cgroup")).memory();
		assertThat(refusal.reason()).isEqualTo(Reason.NOT_ENOUGH_MEMORY);
		assertThat(refusal).hasMessageContaining("the machine has 195 MiB available");
	}

	@Test
	void processCloseToItsDescriptorLimitIsRefused() throws IOException {
		Path proc = proc("0::/\n", 1, 1_000_000);
		Path fd = Files.createDirectories(proc.resolve("self/fd"));
		for (int i = 0; i < 60; i++) {
			Files.createFile(fd.resolve(Integer.toString(i)));
		}
		Files.writeString(proc.resolve("self/limits"),
				"Limit                     Soft Limit           Hard Limit           Units     \n"
						+ "Max open files            64                   524288               files     \n");

		UpgradeException refusal = new Preflight(proc, this.directory).descriptors();

		assertThat(refusal.reason()).isEqualTo(Reason.TOO_MANY_OPEN_FILES);
		assertThat(refusal).hasMessageContaining("60 of its 64 descriptors").hasMessageContaining("LimitNOFILE=");
	}

	private Path proc(String cgroup, long residentKb, long availableKb) throws IOException {
		Path proc = Files.createDirectories(this.directory.resolve("proc"));
		Files.createDirectories(proc.resolve("self"));
		Files.writeString(proc.resolve("self/cgroup"), cgroup);
		Files.writeString(proc.resolve("self/status"), "Name:\tjava\nVmRSS:\t  " + residentKb + " kB\n");
		Files.writeString(proc.resolve("meminfo"), "MemTotal:       24000000 kB\nMemAvailable:   " + availableKb + " kB\n");
		return proc;
	}

}
