/** Drains an async generator: what it yielded and what it returned. */
export async function collect<T, R>(it: AsyncGenerator<T, R>): Promise<{ values: T[]; result: R }> {
  const values: T[] = [];
  for (;;) {
    const step = await it.next();
    if (step.done) return { values, result: step.value };
    values.push(step.value);
  }
}
