package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import dev.tableflip.Fds;
import dev.tableflip.Lineage;
import dev.tableflip.UpgradeException;
import dev.tableflip.UpgradeException.Reason;
import dev.tableflip.Upgrader;
import dev.tableflip.spring.boot.ProcessLife.State;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import dev.tableflip.spring.boot.actuate.TableflipObservations;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link ProcessLife}'s table, state by state and event by event, without processes: the
 * core upgrader is a scripted one whose futures the test completes.
 */
class ProcessLifeTests {

	private final ScriptedUpgrader core = new ScriptedUpgrader();

	private final ProcessLife life = new ProcessLife(this.core);

	private final List<UpgradeRecord> records = new ArrayList<>();

	ProcessLifeTests() {
		this.life.onUpgrade(this.records::add);
	}

	// STARTING

	@Test
	void startingBecomesReadyAndThenAccepts() throws Exception {
		assertThat(this.life.state()).isEqualTo(State.STARTING);
		this.life.ready();
		assertThat(this.life.state()).isEqualTo(State.READY);
		assertThat(this.core.readyCalls).isEqualTo(1);
	}

	@Test
	void startingRefusesUpgradesAndIgnoresRollbacksAndHandOvers() {
		this.core.refuseNext(Reason.NOT_READY);
		assertThat(this.life.upgradeAsync("api").join().outcome()).isEqualTo(Outcome.REFUSED);
		this.core.loseChild();
		this.core.exit.complete(null);
		assertThat(this.life.state()).isEqualTo(State.STARTING);
	}

	@Test
	void startingStopsWithoutStoppingToAccept() {
		assertThat(this.life.stop()).isFalse();
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
		assertThat(this.life.keepAlive().endsConnection(new Object())).isFalse();
	}

	// READY

	@Test
	void readyUpgrades() throws Exception {
		ready();
		this.life.upgradeAsync("api");
		assertThat(this.life.state()).isEqualTo(State.UPGRADING);
	}

	@Test
	void readyStopsQuietly() throws Exception {
		ready();
		assertThat(this.life.stop()).as("stopped accepting").isTrue();
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
		assertThat(this.life.keepAlive().endsConnection(new Object())).isTrue();
		assertThat(this.life.intake().isClosed()).isTrue();
	}

	@Test
	void readyIgnoresRollbacksAndHandOvers() throws Exception {
		ready();
		this.core.loseChild();
		this.core.exit.complete(null);
		assertThat(this.life.state()).isEqualTo(State.READY);
	}

	// UPGRADING

	@Test
	void upgradingGoesOnProbationWhenTheNewProcessIsReady() throws Exception {
		CompletableFuture<UpgradeRecord> upgrade = upgrading();
		this.core.upgrade.complete(42L);
		assertThat(upgrade.join().outcome()).isEqualTo(Outcome.SUCCEEDED);
		assertThat(this.life.state()).isEqualTo(State.PROBATION);
	}

	@Test
	void upgradingIsReadyAgainWhenTheUpgradeFails() throws Exception {
		CompletableFuture<UpgradeRecord> upgrade = upgrading();
		this.core.upgrade.completeExceptionally(new UpgradeException(Reason.CHILD_EXITED, "exited", 42, 1, null));
		assertThat(upgrade.join().outcome()).isEqualTo(Outcome.FAILED);
		assertThat(this.life.state()).isEqualTo(State.READY);
	}

	@Test
	void upgradingRefusesASecondUpgradeAndStays() throws Exception {
		upgrading();
		this.core.refuseNext(Reason.IN_PROGRESS);
		assertThat(this.life.upgradeAsync("api").join().outcome()).isEqualTo(Outcome.REFUSED);
		assertThat(this.life.state()).isEqualTo(State.UPGRADING);
	}

	@Test
	void upgradingStopsWithoutStoppingToAcceptAndALateSuccessChangesNothing() throws Exception {
		CompletableFuture<UpgradeRecord> upgrade = upgrading();
		assertThat(this.life.stop()).isFalse();
		this.core.upgrade.complete(42L);
		upgrade.join();
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
	}

	// PROBATION

	@Test
	void probationRollsBackWhenTheNewProcessIsLost() throws Exception {
		probation();
		this.life.keepAlive().rampDown(Duration.ofMillis(1));
		Thread.sleep(5);

		this.core.loseChild();

		assertThat(this.life.state()).isEqualTo(State.READY);
		assertThat(this.records).last().satisfies((record) -> {
			assertThat(record.outcome()).isEqualTo(Outcome.ROLLED_BACK);
			assertThat(record.reason()).isEqualTo(Reason.PROBATION_FAILED);
			assertThat(record.exitCode()).isEqualTo(137);
		});
		assertThat(this.life.keepAlive().endsConnection(new Object())).as("keep-alive kept again").isFalse();
		this.life.upgradeAsync("api");
		assertThat(this.life.state()).as("can be upgraded again").isEqualTo(State.UPGRADING);
	}

	@Test
	void probationDrainsOnceHandedOver() throws Exception {
		probation();
		this.core.exit.complete(null);
		awaitState(State.DRAINING);
		assertThat(this.life.intake().isClosed()).isTrue();
		assertThat(this.life.keepAlive().endsConnection(new Object())).isTrue();
		this.core.loseChild();
		assertThat(this.life.state()).as("a loss after the hand-over changes nothing").isEqualTo(State.DRAINING);
	}

	@Test
	void probationStopsQuietlyAndTheNewProcessServesOn() throws Exception {
		probation();
		assertThat(this.life.stop()).isTrue();
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
		this.core.exit.complete(null);
		this.core.loseChild();
		Thread.sleep(50);
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
	}

	@Test
	void probationRefusesUpgrades() throws Exception {
		probation();
		this.core.refuseNext(Reason.IN_PROGRESS);
		assertThat(this.life.upgradeAsync("api").join().outcome()).isEqualTo(Outcome.REFUSED);
		assertThat(this.life.state()).isEqualTo(State.PROBATION);
	}

	// DRAINING and STOPPED

	@Test
	void drainingRefusesUpgradesWithoutAskingTheCoreAndIgnoresStop() throws Exception {
		probation();
		this.core.exit.complete(null);
		awaitState(State.DRAINING);
		int asked = this.core.upgradeCalls;
		UpgradeRecord record = this.life.upgradeAsync("api").join();
		assertThat(record.outcome()).isEqualTo(Outcome.REFUSED);
		assertThat(this.core.upgradeCalls).isEqualTo(asked);
		assertThat(this.life.stop()).isFalse();
		assertThat(this.life.state()).isEqualTo(State.DRAINING);
	}

	@Test
	void stoppedRefusesUpgradesWithoutAskingTheCore() throws Exception {
		ready();
		this.life.stop();
		assertThat(this.life.upgradeAsync("api").join().outcome()).isEqualTo(Outcome.REFUSED);
		assertThat(this.core.upgradeCalls).isZero();
		assertThat(this.life.state()).isEqualTo(State.STOPPED);
	}

	// OBSERVATIONS

	@Test
	void everyUpgradeIsAnObservationFromItsTriggerToItsOutcome() throws Exception {
		ScriptedUpgrader core = new ScriptedUpgrader();
		TableflipUpgrader upgrader = new TableflipUpgrader(core);
		List<Observation.Context> started = new CopyOnWriteArrayList<>();
		List<Observation.Context> stopped = new CopyOnWriteArrayList<>();
		ObservationRegistry registry = recording(started::add, stopped::add);
		new TableflipObservations(upgrader, registry);
		upgrader.ready();

		CompletableFuture<UpgradeRecord> failing = upgrader.upgradeAsync("signal");
		assertThat(started).hasSize(1);
		assertThat(stopped).as("under way until its outcome").isEmpty();
		core.upgrade.completeExceptionally(
				new UpgradeException(Reason.CHILD_FAILED, "warm-up failed", 42, Integer.MIN_VALUE, null));
		failing.join();
		CompletableFuture<UpgradeRecord> succeeding = upgrader.upgradeAsync("endpoint");
		core.upgrade.complete(43L);
		succeeding.join();
		core.refuseNext(Reason.NOT_READY);
		upgrader.upgradeAsync("signal").join();

		assertThat(stopped).extracting(Observation.Context::getName).containsOnly("tableflip.upgrade");
		assertThat(stopped).extracting(ProcessLifeTests::keys)
			.containsExactly("trigger=signal outcome=failed reason=child_failed",
					"trigger=endpoint outcome=succeeded reason=none",
					"trigger=signal outcome=refused reason=not_ready");
		assertThat(stopped.get(0).getError()).hasMessage("warm-up failed");
		assertThat(stopped.get(1).getError()).isNull();
		assertThat(stopped.get(1).getHighCardinalityKeyValue("child.pid").getValue()).isEqualTo("43");
	}

	@Test
	void everyStepOfTheLifeIsAnObservationOfItsOwn() {
		TableflipUpgrader upgrader = new TableflipUpgrader(new ScriptedUpgrader());
		List<String> events = new CopyOnWriteArrayList<>();
		ObservationRegistry registry = recording(
				(context) -> events.add("start " + context.getName() + " " + step(context)),
				(context) -> events.add("stop " + context.getName() + " " + step(context)));
		new TableflipObservations(upgrader, registry);

		for (String step : new String[] { "warm-up", null, "health gate", null, "overlap", null, "drain", null }) {
			upgrader.life().step(step);
		}

		assertThat(events).containsExactly("start tableflip.step warm-up", "stop tableflip.step warm-up",
				"start tableflip.step health gate", "stop tableflip.step health gate", "start tableflip.step overlap",
				"stop tableflip.step overlap", "start tableflip.step drain", "stop tableflip.step drain");
		assertThat(upgrader.step()).isNull();
	}

	/** A registry whose only handler tells these of each observation's start and stop. */
	private static ObservationRegistry recording(Consumer<Observation.Context> started,
			Consumer<Observation.Context> stopped) {
		ObservationRegistry registry = ObservationRegistry.create();
		registry.observationConfig().observationHandler(new ObservationHandler<>() {

			@Override
			public boolean supportsContext(Observation.Context context) {
				return true;
			}

			@Override
			public void onStart(Observation.Context context) {
				started.accept(context);
			}

			@Override
			public void onStop(Observation.Context context) {
				stopped.accept(context);
			}

		});
		return registry;
	}

	private static String step(Observation.Context context) {
		return context.getLowCardinalityKeyValue("step").getValue();
	}

	private static String keys(Observation.Context context) {
		return "trigger=" + context.getLowCardinalityKeyValue("trigger").getValue() + " outcome="
				+ context.getLowCardinalityKeyValue("outcome").getValue() + " reason="
				+ context.getLowCardinalityKeyValue("reason").getValue();
	}

	private void ready() throws Exception {
		this.life.ready();
	}

	private CompletableFuture<UpgradeRecord> upgrading() throws Exception {
		ready();
		CompletableFuture<UpgradeRecord> upgrade = this.life.upgradeAsync("api");
		assertThat(this.life.state()).isEqualTo(State.UPGRADING);
		return upgrade;
	}

	private void probation() throws Exception {
		upgrading();
		this.core.upgrade.complete(42L);
		assertThat(this.life.state()).isEqualTo(State.PROBATION);
	}

	private void awaitState(State expected) throws InterruptedException {
		long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
		while (this.life.state() != expected && System.nanoTime() < deadline) {
			Thread.sleep(5);
		}
		assertThat(this.life.state()).isEqualTo(expected);
	}

	/** A core upgrader whose outcomes the test decides. */
	private static final class ScriptedUpgrader implements Upgrader {

		private final Fds fds = Upgrader.stub().fds();

		final CompletableFuture<Void> exit = new CompletableFuture<>();

		CompletableFuture<Long> upgrade = new CompletableFuture<>();

		private final List<Consumer<UpgradeException>> rollbackListeners = new ArrayList<>();

		private Reason refusal;

		int readyCalls;

		int upgradeCalls;

		void refuseNext(Reason reason) {
			this.refusal = reason;
		}

		void loseChild() {
			UpgradeException lost = new UpgradeException(Reason.PROBATION_FAILED, "new process 42 exited", 42, 137,
					null);
			this.rollbackListeners.forEach((listener) -> listener.accept(lost));
		}

		@Override
		public Fds fds() {
			return this.fds;
		}

		@Override
		public void ready() {
			this.readyCalls++;
		}

		@Override
		public void fail(String reason) {
		}

		@Override
		public long upgrade(String cause) {
			throw new UnsupportedOperationException();
		}

		@Override
		public CompletableFuture<Long> upgradeAsync(String cause) {
			this.upgradeCalls++;
			if (this.refusal != null) {
				Reason reason = this.refusal;
				this.refusal = null;
				return CompletableFuture.failedFuture(new UpgradeException(reason, "refused"));
			}
			this.upgrade = new CompletableFuture<>();
			return this.upgrade;
		}

		@Override
		public CompletableFuture<Void> exit() {
			return this.exit;
		}

		@Override
		public void onRollback(Consumer<UpgradeException> listener) {
			this.rollbackListeners.add(listener);
		}

		@Override
		public void stop() {
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
		public void waitForParent(Duration timeout) throws TimeoutException {
		}

		@Override
		public int generation() {
			return 1;
		}

		@Override
		public Lineage lineage() {
			return Upgrader.stub().lineage();
		}

	}

}
