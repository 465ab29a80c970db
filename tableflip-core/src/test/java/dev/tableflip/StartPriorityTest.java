package dev.tableflip;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The command a new process starts with on fewer CPUs, built from this machine's real CPU set
 * ({@code /proc/self/status}); {@link UpgraderProcessTest} starts such processes.
 */
class StartPriorityTest {

	private final String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

	private final Map<String, String> notes = new HashMap<>();

	@Test
	void cpuListsReadAndWriteAsTheKernelAndTasksetDo() {
		BitSet cpus = StartPriority.parseCpuList("0-3,6,8-9");
		assertThat(cpus.stream().boxed().toList()).containsExactly(0, 1, 2, 3, 6, 8, 9);
		assertThat(StartPriority.cpuList(cpus)).isEqualTo("0-3,6,8-9");
		assertThat(StartPriority.cpuList(StartPriority.parseCpuList("5"))).isEqualTo("5");
	}

	@Test
	void javaCommandRunsUnderTasksetOnTheLastCpusSizedForAllOfThem() {
		BitSet all = allCpus();
		List<String> command = StartPriority.command(List.of(this.java, "-jar", "app.jar"), -1, 1, this.notes);
		assertThat(command).containsExactly("/usr/bin/taskset", "-c", Integer.toString(all.length() - 1), this.java,
				StartPriority.ACTIVE_PROCESSOR_COUNT + Runtime.getRuntime().availableProcessors(), "-jar", "app.jar");
		assertThat(this.notes).containsEntry(StartPriority.CPUS_NOTE, StartPriority.cpuList(all));
	}

	@Test
	void processorCountAlreadyOnTheCommandLineIsKept() {
		allCpus();
		List<String> command = StartPriority.command(
				List.of(this.java, StartPriority.ACTIVE_PROCESSOR_COUNT + "8", "-jar", "app.jar"), -1, 1, this.notes);
		assertThat(command).filteredOn((argument) -> argument.startsWith(StartPriority.ACTIVE_PROCESSOR_COUNT))
			.containsExactly(StartPriority.ACTIVE_PROCESSOR_COUNT + "8");
	}

	@Test
	void commandThatIsNotTheJavaLauncherStartsOnAllCpus() {
		allCpus();
		List<String> script = List.of("/opt/service/bin/start.sh", "--port=8080");
		assertThat(StartPriority.command(script, -1, 1, this.notes)).isEqualTo(script);
		assertThat(this.notes).doesNotContainKey(StartPriority.CPUS_NOTE);
	}

	@Test
	void asManyCpusAsThisProcessHasOrNoneChangeNothing() {
		BitSet all = StartPriority.cpus(Path.of("/proc/self/status"));
		List<String> command = List.of(this.java, "-jar", "app.jar");
		assertThat(StartPriority.command(command, -1, all.cardinality(), this.notes)).isEqualTo(command);
		assertThat(StartPriority.command(command, -1, 0, this.notes)).isEqualTo(command);
		assertThat(this.notes).isEmpty();
	}

	private static BitSet allCpus() {
		BitSet all = StartPriority.cpus(Path.of("/proc/self/status"));
		assumeTrue(all.cardinality() >= 2, "needs 2 CPUs or more, has " + StartPriority.cpuList(all));
		assumeTrue(Files.isExecutable(Path.of("/usr/bin/taskset")), "needs /usr/bin/taskset");
		return all;
	}

}
