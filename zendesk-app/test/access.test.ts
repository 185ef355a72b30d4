import { describe, expect, it } from 'vitest';
import { isReadOnly, withAssignee } from '../src/access';
import type { Ticket } from '../src/types';

const ticket = (assignee: Ticket['assignee'], isAssignee: boolean): Ticket => ({
  id: 123,
  subject: 'Refund',
  status: 'open',
  customer: { name: 'Alice' },
  assignee,
  is_assignee: isAssignee,
});

describe('read-only decision', () => {
  it('lets the assignee write', () => {
    expect(isReadOnly(ticket({ id: 7, name: 'Sam' }, true))).toBe(false);
  });

  it('makes the chat read-only for another agent and for an unassigned ticket', () => {
    expect(isReadOnly(ticket({ id: 8, name: 'Kim' }, false))).toBe(true);
    expect(isReadOnly(ticket(null, false))).toBe(true);
  });

  it('follows a member event: me assigned → writable, someone else → read-only', () => {
    const mine = withAssignee(ticket(null, false), { id: 7, name: 'Sam' }, 7);
    expect(isReadOnly(mine)).toBe(false);
    const theirs = withAssignee(mine, { id: 8, name: 'Kim' }, 7);
    expect(isReadOnly(theirs)).toBe(true);
    expect(theirs.assignee).toEqual({ id: 8, name: 'Kim' });
    expect(isReadOnly(withAssignee(mine, null, 7))).toBe(true);
  });
});
