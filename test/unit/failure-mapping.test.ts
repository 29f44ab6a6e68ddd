import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../workflows/operation-tracker';
import { typedTimeout } from '../../workflows/wait-bounds';

/** How a failure becomes the operation's error code and message (what the API shows). */
describe('failure mapping', () => {
  const activityFailed = (cause: Error) =>
    new ActivityFailure(
      'Activity task failed',
      'waitForSsh',
      '7',
      RetryState.NON_RETRYABLE_FAILURE,
      'worker@host',
      cause,
    );

  it("an activity's typed failure is the operation's error: its type and message, never the wrapper's", () => {
    const inner = ApplicationFailure.create({
      type: 'ssh_timeout',
      message: 'SSH on stor1 did not answer within 900 s.',
      nonRetryable: true,
    });
    expect(describeFailure(activityFailed(inner))).toEqual({
      code: 'ssh_timeout',
      message: 'SSH on stor1 did not answer within 900 s.',
    });
    expect(describeFailure(inner)).toEqual({
      code: 'ssh_timeout',
      message: 'SSH on stor1 did not answer within 900 s.',
    });
  });

  it('anything untyped is internal_error, with its message only (no stack)', () => {
    expect(describeFailure(activityFailed(new TypeError('x is undefined')))).toEqual({
      code: 'internal_error',
      message: 'x is undefined',
    });
    expect(describeFailure(new Error('boom'))).toEqual({ code: 'internal_error', message: 'boom' });
    expect(describeFailure('a string')).toEqual({ code: 'internal_error', message: 'a string' });
    expect(describeFailure(activityFailed(ApplicationFailure.create({ message: 'no type' })))).toEqual({
      code: 'internal_error',
      message: 'no type',
    });
  });

  it("a wait ended by the server's bound reads as the wait's own typed failure", async () => {
    const serverBound = activityFailed(
      new TimeoutFailure('activity ScheduleToClose timeout', undefined, TimeoutType.SCHEDULE_TO_CLOSE),
    );
    const err = await typedTimeout('power_timeout', 'stor1 to power off', () => Promise.reject(serverBound)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'power_timeout', nonRetryable: true });
    expect((err as Error).message).toMatch(
      /^Timed out waiting for stor1 to power off: the wait did not end within its bound/,
    );
    expect(describeFailure(err).code).toBe('power_timeout');
  });

  it('any other failure of the wait passes through unchanged, and a result is returned as is', async () => {
    const other = activityFailed(
      ApplicationFailure.create({ type: 'bmc_unreachable', message: 'no answer', nonRetryable: true }),
    );
    await expect(typedTimeout('power_timeout', 'stor1', () => Promise.reject(other))).rejects.toBe(other);
    await expect(typedTimeout('power_timeout', 'stor1', () => Promise.resolve(42))).resolves.toBe(42);
  });
});
