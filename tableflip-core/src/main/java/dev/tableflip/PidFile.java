package dev.tableflip;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/** Writes a PID file atomically, so that a reader (systemd) never sees it half-written. */
final class PidFile {

	private PidFile() {
	}

	static void write(Path path, long pid) throws IOException {
		Path directory = path.toAbsolutePath().getParent();
		Path temporary = Files.createTempFile(directory, "." + path.getFileName(), ".tmp");
		try {
			Files.write(temporary, (pid + "\n").getBytes(StandardCharsets.US_ASCII));
			if (Files.getFileStore(temporary).supportsFileAttributeView(PosixFileAttributeView.class)) {
				Files.setPosixFilePermissions(temporary, PosixFilePermissions.fromString("rw-r--r--"));
			}
			Files.move(temporary, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
		}
		finally {
			Files.deleteIfExists(temporary);
		}
	}

}
