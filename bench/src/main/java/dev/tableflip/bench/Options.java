package dev.tableflip.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A benchmark's {@code --name value} options: an unknown name, a name without a value or a
 * stray argument ends the program with the usage (exit 2), {@code --help} prints it (exit 0),
 * before anything is started.
 */
final class Options {

	private Options() {
	}

	static Map<String, String> parse(String[] args, List<String> known, String usage) {
		Map<String, String> options = new LinkedHashMap<>();
		for (int i = 0; i < args.length; i++) {
			String arg = args[i];
			if (arg.equals("--help") || arg.equals("-h")) {
				System.out.println(usage);
				System.exit(0);
			}
			String name = arg.replaceFirst("^--", "");
			if (!arg.startsWith("--") || !known.contains(name)) {
				fail("unknown option " + arg + " (known: --" + String.join(", --", known) + ")", usage);
			}
			if (i + 1 >= args.length || args[i + 1].startsWith("--")) {
				fail("option " + arg + " needs a value", usage);
			}
			options.put(name, args[++i]);
		}
		return options;
	}

	private static void fail(String message, String usage) {
		System.err.println(message);
		System.err.println(usage);
		System.exit(2);
	}

}
