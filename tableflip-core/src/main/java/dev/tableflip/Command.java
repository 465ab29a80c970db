package dev.tableflip;

import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * This JVM's own command line, to start the next process with. {@code /proc/self/cmdline}
 * is complete and verbatim (JVM options, {@code -jar}, application arguments, unexpanded
 * argfiles), where {@code ProcessHandle.info()} gives up on long command lines.
 */
final class Command {

	private Command() {
	}

	/** The command line this JVM was started with, the java launcher taken from {@code java.home}. */
	static List<String> current() {
		List<String> arguments = fromProc();
		if (arguments.isEmpty()) {
			ProcessHandle.Info info = ProcessHandle.current().info();
			arguments.add("java");
			info.arguments().ifPresent((args) -> arguments.addAll(List.of(args)));
			if (arguments.size() == 1) {
				throw new IllegalStateException("cannot read this JVM's command line: set the command to run explicitly");
			}
		}
		// The executable may have been replaced or removed since (a JDK upgraded in place).
		if (Path.of(arguments.get(0)).getFileName().toString().equals("java")) {
			arguments.set(0, Path.of(System.getProperty("java.home"), "bin", "java").toString());
		}
		return arguments;
	}

	private static List<String> fromProc() {
		List<String> arguments = new ArrayList<>();
		Path cmdline = Path.of("/proc/self/cmdline");
		if (!Files.isReadable(cmdline)) {
			return arguments;
		}
		try {
			String all = new String(Files.readAllBytes(cmdline), Charset.defaultCharset());
			int start = 0;
			for (int i = 0; i < all.length(); i++) {
				if (all.charAt(i) == '\0') {
					arguments.add(all.substring(start, i));
					start = i + 1;
				}
			}
		}
		catch (IOException ex) {
			arguments.clear();
		}
		return arguments;
	}

}
