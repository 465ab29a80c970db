package dev.tableflip;

import java.time.Duration;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

import dev.tableflip.UpgradeException.Reason;

/**
 * An upgrader without upgrades (Go's {@code tableflip/testing}): sockets are bound fresh,
 * {@code ready()} does nothing, {@code upgrade()} always fails with
 * {@link Reason#UNSUPPORTED}, and {@code exit()} completes on {@code stop()}.
 */
final class StubUpgrader implements Upgrader {

	private final Fds fds;

	private final CompletableFuture<Void> exit = new CompletableFuture<>();

	private final Lineage lineage = Lineage.first();

	StubUpgrader(ListenConfig listenConfig) {
		this.fds = new Fds(Map.of(), listenConfig);
	}

	@Override
	public Fds fds() {
		return this.fds;
	}

	@Override
	public void ready() {
	}

	@Override
	public void fail(String reason) {
	}

	@Override
	public long upgrade(String cause) throws UpgradeException {
		throw unsupported();
	}

	@Override
	public CompletableFuture<Long> upgradeAsync(String cause) {
		return CompletableFuture.failedFuture(unsupported());
	}

	@Override
	public CompletableFuture<Void> exit() {
		return this.exit.copy();
	}

	@Override
	public void onRollback(Consumer<UpgradeException> listener) {
		// never upgrades, so never rolls back
	}

	@Override
	public void stop() {
		this.exit.complete(null);
	}

	@Override
	public boolean hasParent() {
		return false;
	}

	@Override
	public OptionalLong parentPid() {
		return OptionalLong.empty();
	}

	@Override
	public void waitForParent(Duration timeout) {
	}

	@Override
	public int generation() {
		return 1;
	}

	@Override
	public Lineage lineage() {
		return this.lineage;
	}

	private static UpgradeException unsupported() {
		return new UpgradeException(Reason.UNSUPPORTED, "this is a stub upgrader: it never upgrades");
	}

}
