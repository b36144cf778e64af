/**
 * drachtio-server's routing table: a multimap verb -> client with a
 * round-robin offset per verb (ClientController::wants_requests and
 * selectClientForRequestOutsideDialog).
 */
export class RouteTable<C> {
  private readonly byVerb = new Map<string, C[]>();
  private readonly offsets = new Map<string, number>();

  /** Duplicates are kept: a client that routes a verb twice gets two turns. */
  add(verb: string, client: C): void {
    const list = this.byVerb.get(verb);
    if (list) list.push(client);
    else this.byVerb.set(verb, [client]);
  }

  /**
   * Forget every route of `client`. This is also what `remove_route|<verb>`
   * does on the real server: no_longer_wants_requests ignores the verb and
   * erases all of that client's entries.
   */
  removeClient(client: C): void {
    for (const [verb, list] of this.byVerb) {
      const kept = list.filter((c) => c !== client);
      if (kept.length) this.byVerb.set(verb, kept);
      else this.byVerb.delete(verb);
    }
  }

  count(verb: string): number {
    return this.byVerb.get(verb)?.length ?? 0;
  }

  has(verb: string, client: C): boolean {
    return this.byVerb.get(verb)?.includes(client) ?? false;
  }

  /** Next client for `verb`: the offset advances per selection and wraps to 0 once past the end. */
  select(verb: string): C | undefined {
    const list = this.byVerb.get(verb);
    if (!list?.length) return undefined;
    const stored = this.offsets.get(verb) ?? 0;
    const offset = stored < list.length ? stored : 0;
    this.offsets.set(verb, offset + 1);
    return list[offset];
  }
}
